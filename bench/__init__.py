"""Benchmarks (issue 8 §1): scripts, not tests. See bench/README.md."""
