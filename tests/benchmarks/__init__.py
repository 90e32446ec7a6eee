"""Tests of benchmarks/ (the coverage corpus)."""
