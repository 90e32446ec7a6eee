"""Tests of src/portkit/recipes/."""
