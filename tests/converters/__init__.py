"""Tests of converters/ (one edge per module)."""
