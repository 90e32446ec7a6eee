"""Tests of src/portkit/cli.py and commands/ (the CLI as users run it)."""
