"""Shared fixtures: simulators on loopback, temporary targets, a clean dlt environment."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")
os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
os.environ.setdefault("RUNTIME__LOG_LEVEL", "WARNING")
#: Runs and flows build the analytics models after a load by default (`--models auto`): a
#: few seconds of dbt each. Tests of loading leave them out; tests/analytics and the demo
#: test build them (an explicit `--models yes` or `Target(models="yes")` wins over this).
os.environ.setdefault("SLACK_INGEST__MODELS", "no")


@pytest.fixture(autouse=True)
def _ctrl_c_stays_ctrl_c(request: pytest.FixtureRequest) -> Iterator[None]:
    """Every test starts with Python's own SIGINT handler. A library that leaves SIGINT
    ignored in this process (SIG_IGN is inherited across exec) would make every later CLI
    subprocess deaf to Ctrl-C, and the Ctrl-C tests would test nothing; the test that left
    it so is named on stderr."""
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        print(f"\n{request.node.nodeid} left SIGINT changed; restored", file=sys.stderr)
        signal.signal(signal.SIGINT, signal.default_int_handler)


#: Slack response samples shipped with the tests (a clone has nothing beside it to read).
SAMPLES = Path(__file__).resolve().parent / "fixtures" / "slack-samples"


@pytest.fixture
def target(tmp_path):
    from ingest.load.run import Target

    return Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"),
        dataset="slack",
        pipelines_dir=str(tmp_path / "pipelines"),
    )
