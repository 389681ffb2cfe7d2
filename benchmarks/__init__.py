"""Benchmarks, run by hand with ``make bench`` (never part of ``make test``)."""
