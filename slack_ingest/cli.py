"""`slack-ingest`: ingest's commands (run, demo, simulate) plus `flow run|serve` from flows/.

Composed here, at the top, so that `ingest` never imports `flows` (docs/DESIGN.md, "Layers").
Prefect is imported only when a flow command runs.
"""

from __future__ import annotations

import sys

from flows.cli import flow_app
from ingest.cli.app import _redeliver_swallowed_interrupt, app

app.add_typer(flow_app, name="flow")


def main() -> None:
    sys.unraisablehook = _redeliver_swallowed_interrupt
    app()


if __name__ == "__main__":
    main()
