"""Tests of src/portkit/workers.py and src/portkit/runtimes/."""
