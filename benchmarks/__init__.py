"""Benchmarks: `python -m benchmarks run [--scenario NAME ...] [--quick] [--json PATH]`.

Each scenario is a small module exposing `run(quick: bool) -> dict`, named as the scenario
(`budget` runs from `budget_use.py`: runner.SCENARIO_MODULES); see benchmarks/README.md.
Not installed with the package: run it from the repository root.
"""
