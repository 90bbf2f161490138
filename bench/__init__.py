"""Benchmarks. Each compares against a baseline in the same run, prints a table, writes JSON."""
