"""Secrets: full loads and failing runs with a recognisable token, then a scan of everything
they left for it: stdout and stderr (with --verbose retry logs, and with
SLACK_INGEST_DEBUG=1 tracebacks), log records, exceptions (text, repr and attributes of
the whole chain), the JSON summary, the DuckDB file (raw bytes and every table's values),
every file dlt wrote (state, trace pickles, schemas, load packages, decompressed), and for
the Prefect flow its stored parameters, states, logs, artifacts and the server database.
Zero hits allowed.
"""

from __future__ import annotations

import gzip
import logging
import traceback
from pathlib import Path
from typing import Any

import duckdb
import pytest

from ingest.load.explain import explain
from ingest.load.run import Target, run_load
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import settings_for
from tests.reliability.support import assert_exact, cli_env, load_args, run_cli

CANARY = "xoxb-7777-SECRETCANARY-abcdef"
REVOKED = "xoxb-7777-SECRETCANARY-revoked"
NEEDLES = (b"SECRETCANARY", CANARY.encode(), b"7777-SECRET")
FAULTS = "http503=0.05,reset=0.03,badjson=0.03,seed=3"


def hits(data: bytes | str, where: str) -> list[str]:
    raw = data.encode("utf-8", "replace") if isinstance(data, str) else data
    return [f"{where}: {n.decode()}" for n in NEEDLES if n in raw]


def _decoded(path: Path) -> bytes:
    """A file's bytes, decompressed / decoded when it is a gzip or parquet file."""
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        return raw + gzip.decompress(raw)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return raw + str(pq.read_table(path).to_pylist()).encode()
    return raw


def scan_tree(root: Path) -> tuple[list[str], int]:
    found: list[str] = []
    n = 0
    for path in sorted(root.rglob("*")):
        if path.is_file():
            n += 1
            found += hits(_decoded(path), str(path))
    return found, n


def scan_duckdb(db: Path) -> tuple[list[str], int]:
    """Raw bytes (and the WAL) plus every value of every table as text: DuckDB compresses
    strings, so bytes alone could hide a stored token."""
    found = hits(db.read_bytes(), str(db))
    wal = db.with_name(db.name + ".wal")
    if wal.exists():
        found += hits(wal.read_bytes(), str(wal))
    con = duckdb.connect(str(db), read_only=True)
    n = 0
    try:
        tables = con.execute(
            "select table_schema, table_name from information_schema.tables"
        ).fetchall()
        for schema, table in tables:
            rows = con.execute(f'select * from "{schema}"."{table}"').fetchall()
            n += len(rows)
            found += hits(repr(rows), f"{db}:{schema}.{table}")
    finally:
        con.close()
    return found, n


def scan_exception(exc: BaseException) -> list[str]:
    found = hits("".join(traceback.format_exception(exc)), "traceback")
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen or not isinstance(e, BaseException):
            continue
        seen.add(id(e))
        found += hits(repr(e) + str(e), f"{type(e).__name__}")
        found += hits(repr(vars(e)), f"{type(e).__name__}.__dict__")
        stack += [
            e.__cause__,
            e.__context__,
            getattr(e, "exception", None),
            *(getattr(e, "exceptions", ()) or ()),
        ]
    return found


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="tiny", seed=91, token=CANARY)
    with SimulatorThread(ws, profile="unlimited", faults=FAULTS) as s:
        s.add_token(REVOKED, revoked=True)
        yield s


def test_cli_runs_leave_the_token_nowhere(sim, tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    db = home / "w.duckdb"
    pipes = home / "pipelines"
    env = cli_env(CANARY, pipes)
    found: list[str] = []
    runs = {
        # a full load, retries logged
        "verbose load": (["--verbose", *load_args(sim, db, "--json", str(home / "s.json"))], env),
        # the token as a flag (shell history is the user's problem; our files are ours)
        "token flag": (["--verbose", *load_args(sim, db, "--token", CANARY)], cli_env(None, pipes)),
        # a revoked token: the auth failure path
        "revoked": (["--verbose", *load_args(sim, db)], cli_env(REVOKED, pipes)),
        # debug mode prints the traceback of a failure
        "debug traceback": (
            load_args(sim, db),
            cli_env(REVOKED, pipes, {"SLACK_INGEST_DEBUG": "1"}),
        ),
    }
    for name, (args, e) in runs.items():
        proc = run_cli(args, home, e)
        if name in ("verbose load", "token flag"):
            assert proc.returncode == 0, proc.stderr[-3000:]
        else:
            assert proc.returncode != 0
        if name == "verbose load":
            assert "retrying" in proc.stderr, "the verbose run should log its retries"
        if name == "debug traceback":
            assert "Traceback" in proc.stderr
        found += hits(proc.stdout, f"{name} stdout") + hits(proc.stderr, f"{name} stderr")

    # Slack down for longer than the retries: the runtime failure path
    sim.set_faults("http503=1")
    try:
        proc = run_cli(
            ["--verbose", *load_args(sim, db)],
            home,
            {**env, "SOURCES__SLACK__MAX_RETRY_WAIT_S": "2"},
        )  # not 10 minutes
    finally:
        sim.set_faults(FAULTS)
    assert proc.returncode == 1 and "Slack request failed" in proc.stderr, proc.stderr[-2000:]
    found += hits(proc.stdout + proc.stderr, "outage output")

    assert_exact(Target(duckdb_path=str(db)), sim.workspace.truth())
    db_hits, n_rows = scan_duckdb(db)
    tree_hits, n_files = scan_tree(home)
    assert n_rows > 300 and n_files > 20  # the scans looked at something
    assert any(p.name == "trace.pickle" for p in pipes.rglob("*")), "no dlt trace to scan"
    found += db_hits + tree_hits
    for extra in (Path.home() / ".dlt",):
        if extra.exists():
            found += scan_tree(extra)[0]
    assert not found, found


def test_in_process_logs_and_exceptions_leave_the_token_nowhere(sim, target, caplog):
    caplog.set_level(logging.DEBUG)  # every logger: ingest, dlt, aiohttp, asyncio
    run_load(CANARY, settings_for(sim), target)
    errors: list[BaseException] = []
    for token, faults in ((REVOKED, FAULTS), (CANARY, "http503=1")):
        sim.set_faults(faults)
        try:
            run_load(token, settings_for(sim, max_retry_wait_s=2.0), target)
        except Exception as exc:  # noqa: BLE001 - the point is to look at it
            errors.append(exc)
        finally:
            sim.set_faults(FAULTS)
    assert len(errors) == 2
    assert [explain(e)[0] for e in errors] == [2, 1]
    found: list[str] = []
    for exc in errors:
        found += scan_exception(exc)
        found += hits(explain(exc)[1], "explain")
    retry_logs = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retry_logs, "faults should have been retried and logged"
    for record in caplog.records:
        text = record.getMessage() + repr(record.args) + (record.exc_text or "")
        if record.exc_info:
            text += "".join(traceback.format_exception(*record.exc_info))
        found += hits(text, f"log {record.name}")
    found += scan_duckdb(Path(target.duckdb_path))[0]
    found += scan_tree(Path(target.pipelines_dir))[0]
    assert not found, found


def test_the_scanners_find_a_planted_token(tmp_path):
    """The scans above can fail: a token hidden in a gzip file, a parquet file or a DuckDB
    table is found."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "x.insert_values.gz").write_bytes(gzip.compress(f"('{CANARY}')".encode()))
    pq.write_table(pa.table({"t": [CANARY]}), tmp_path / "x.parquet", compression="zstd")
    con = duckdb.connect(str(tmp_path / "x.duckdb"))
    con.execute("create table t as select ? as v from range(5000)", [CANARY])
    con.close()
    found, n = scan_tree(tmp_path)
    assert n == 3
    assert {f.split(":")[0] for f in found} >= {
        str(tmp_path / "x.insert_values.gz"),
        str(tmp_path / "x.parquet"),
    }
    assert scan_duckdb(tmp_path / "x.duckdb")[0]


@pytest.fixture(scope="module")
def prefect_server():
    """A Prefect test server: the one already running (tests/flows starts one for the
    session; a second one nested in it would miss the client's events), else our own."""
    pytest.importorskip("flows.pipeline")
    import prefect.settings
    from prefect.testing.utilities import prefect_test_harness

    if str(prefect.settings.PREFECT_API_URL.value() or "").startswith("http://127.0.0.1:"):
        yield
        return
    with prefect_test_harness(server_startup_timeout=90):
        yield


def _prefect_store_text() -> str:
    """Everything the Prefect server stored: runs (parameters, states), task runs, logs,
    artifacts, variables and blocks, as one text."""
    import json

    from prefect.client.orchestration import get_client
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs()
        tasks = client.read_task_runs()
        logs = client.read_logs()
        arts = client.read_artifacts()
        blocks = client.read_block_documents()
    assert runs and tasks and logs and arts  # the scan looked at something
    parts = [json.dumps(r.model_dump(mode="json"), default=str) for r in runs]
    parts += [json.dumps(t.model_dump(mode="json"), default=str) for t in tasks]
    parts += [lg.message for lg in logs]
    parts += [json.dumps(a.model_dump(mode="json"), default=str) for a in arts]
    parts += [json.dumps(b.model_dump(mode="json"), default=str) for b in blocks]
    return "\n".join(parts)


def test_flow_run_leaves_the_token_nowhere(prefect_server, sim, tmp_path, monkeypatch, caplog):
    import prefect.settings

    from ingest.slack import SlackAuthError
    from tests.flows.helpers import run_flow

    caplog.set_level(logging.DEBUG)
    monkeypatch.setenv("SLACK_INGEST_SECRET_BLOCK", "no-such-block-in-tests")
    monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", CANARY)
    target = Target(
        duckdb_path=str(tmp_path / "flow.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    summary = run_flow(sim, target, shards=2, profile="unlimited")
    assert_exact(target, sim.workspace.truth())

    monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", REVOKED)
    with pytest.raises(SlackAuthError) as failed:
        run_flow(sim, target, shards=2, profile="unlimited")

    found = hits(repr(summary), "flow result") + scan_exception(failed.value)
    found += hits(_prefect_store_text(), "prefect api")
    db_url = str(prefect.settings.PREFECT_SERVER_DATABASE_CONNECTION_URL.value())
    db_file = Path(db_url.split(":///", 1)[1])
    assert db_file.exists(), db_url
    found += scan_tree(db_file.parent)[0]  # the server's SQLite database and its WAL
    storage = Path(str(prefect.settings.PREFECT_LOCAL_STORAGE_PATH.value()))
    if storage.exists():
        found += scan_tree(storage)[0]  # persisted results
    for record in caplog.records:
        found += hits(record.getMessage() + (record.exc_text or ""), f"log {record.name}")
    found += scan_duckdb(Path(target.duckdb_path))[0] + scan_tree(tmp_path)[0]
    assert not found, found
