"""Benchmarks, run by hand or by `make bench`, never as tests (see bench/forum_pages.py)."""
