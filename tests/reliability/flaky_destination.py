"""A destination that fails on demand, for `slack-ingest run` subprocesses.

Importing this module patches dlt's DuckDB destination in *this process* according to the
environment variable FLAKY_DESTINATION:

- `job`: every parquet load job (the `messages` table on the fast path) fails with a
  DestinationTerminalException, as a warehouse rejecting a load job would (BigQuery
  answering 5xx to a load job, a quota error...). The other tables' jobs succeed, so
  the package is left half loaded.
- `connect`: opening a connection fails with a DestinationTransientException, as when
  the warehouse is unreachable.
- `sigint`: the first parquet load job sends SIGINT to its own process (a user pressing
  Ctrl-C while dlt loads), then loads normally.
- unset or empty: no change.

With FLAKY_DESTINATION_WHILE=<path> the failures happen only while that file exists, so a
test can take the warehouse down in the middle of a run.

The test process runs the CLI as `python -c "import tests.reliability.flaky_destination;
from slack_ingest.cli import main; main()" run ...` (support.run_cli(preload=...)).
"""

from __future__ import annotations

import os
import signal

from dlt.common.destination.exceptions import (
    DestinationTerminalException,
    DestinationTransientException,
)
from dlt.destinations.impl.duckdb import duck, sql_client

MODE = os.environ.get("FLAKY_DESTINATION", "")
WHILE = os.environ.get("FLAKY_DESTINATION_WHILE", "")
JOB_MESSAGE = "simulated warehouse outage: load job rejected"
CONNECT_MESSAGE = "simulated warehouse outage: cannot connect"

_run = duck.DuckDbCopyJob.run
_open = sql_client.DuckDbSqlClient.open_connection


def _down() -> bool:
    return not WHILE or os.path.exists(WHILE)


def _failing_run(self: duck.DuckDbCopyJob) -> None:
    if _down():
        raise DestinationTerminalException(JOB_MESSAGE)
    _run(self)


def _failing_open(self: sql_client.DuckDbSqlClient) -> object:
    if _down():
        raise DestinationTransientException(CONNECT_MESSAGE)
    return _open(self)


def _interrupting_run(self: duck.DuckDbCopyJob) -> None:
    global _interrupted
    if not _interrupted:
        _interrupted = True
        os.kill(os.getpid(), signal.SIGINT)
    _run(self)


_interrupted = False
if MODE == "job":
    duck.DuckDbCopyJob.run = _failing_run  # type: ignore[method-assign]
elif MODE == "connect":
    sql_client.DuckDbSqlClient.open_connection = _failing_open  # type: ignore[method-assign]
elif MODE == "sigint":
    duck.DuckDbCopyJob.run = _interrupting_run  # type: ignore[method-assign]
elif MODE:
    raise SystemExit(f"FLAKY_DESTINATION={MODE!r}: expected job, connect or sigint")
