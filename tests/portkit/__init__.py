"""Tests of the modules of src/portkit (core, convert/check/measure layers)."""
