"""Tests of src/portkit/prep/ (mobile and web preparation)."""
