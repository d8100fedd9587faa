"""`python -m benchmarks run [--scenario NAME ...] [--quick] [--json PATH]`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from benchmarks.runner import DEFAULT_JSON, SCENARIOS, run_suite


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="slack-ingest benchmark suite"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run scenarios and write JSON + PNG plots")
    run.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)}",
    )
    run.add_argument(
        "--quick", action="store_true", help="small sizes: the whole suite in a few minutes"
    )
    run.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the JSON document; the PNG plots go in its folder "
        f"[default: {DEFAULT_JSON}]",
    )
    args = parser.parse_args(argv)
    names = args.scenario or list(SCENARIOS)
    run_suite(names, quick=args.quick, json_path=args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
