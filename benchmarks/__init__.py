"""Benchmarks: `python -m benchmarks run [--scenario NAME ...] [--quick] [--json PATH]`.

Each scenario is a small module exposing `run(quick: bool) -> dict`; see benchmarks/README.md.
"""
