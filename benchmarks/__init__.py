"""Benchmark scripts (installed as ``dlkit.benchmarks``).

Timing claims live here, never in unit tests.
"""
