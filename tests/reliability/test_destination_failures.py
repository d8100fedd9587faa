"""Destination failures: a DuckDB file locked by another process, and a warehouse that fails
on demand (tests.reliability.flaky_destination: a load job rejected, or no connection).
The run stops with one clear line and exit code 1, the extracted data is kept (a pending
dlt load package), and the next run loads it and goes on: the destination ends equal to
the truth, and the rerun does not fetch everything again."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ingest.pipeline import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.reliability.flaky_destination import CONNECT_MESSAGE, JOB_MESSAGE
from tests.reliability.support import (
    assert_exact,
    assert_one_line_failure,
    cli_argv,
    cli_env,
    load_args,
    requests_total,
    run_cli,
    wait_for,
)

TOKEN = "xoxb-6060-destination-failures"
FLAKY = "tests.reliability.flaky_destination"


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="small", seed=41, token=TOKEN)
    with SimulatorThread(ws, profile="unlimited") as s:
        yield s


def _pending_packages(pipelines: Path) -> list[str]:
    """Load packages extracted and normalized but not (fully) loaded."""
    return sorted(p.name for p in pipelines.glob("*/load/normalized/*") if p.is_dir())


@pytest.fixture
def work(tmp_path):
    return tmp_path, tmp_path / "w.duckdb", cli_env(TOKEN, tmp_path / "pipelines")


def test_duckdb_locked_by_another_process(sim, work):
    tmp, db, env = work
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import duckdb, sys\n"
         f"con = duckdb.connect({str(db)!r})\n"
         "con.execute('create table if not exists held (i int)')\n"
         "print('locked', flush=True)\n"
         "sys.stdin.read()\n"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        sim.reset_stats()
        proc = run_cli(load_args(sim, db, lookback_days=None), tmp, env)
        first = requests_total(sim)
        assert_one_line_failure(proc, 1, "locked", "kept", secrets=(TOKEN,))
        # the extracted data is kept as a pending load package
        assert _pending_packages(tmp / "pipelines"), "extracted package was not kept"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)

    sim.reset_stats()
    proc = run_cli(load_args(sim, db, lookback_days=None), tmp, env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    rerun = requests_total(sim)
    assert_exact(Target(duckdb_path=str(db)), sim.workspace.truth())
    assert not _pending_packages(tmp / "pipelines")
    # the rerun loaded the kept package instead of fetching everything again
    assert rerun <= 0.25 * first, (rerun, first)


@pytest.mark.parametrize("mode", ["connect", "job"])
def test_destination_down_then_next_run_loads_the_kept_data(sim, work, mode):
    tmp, db, env = work
    sim.reset_stats()
    proc = run_cli(load_args(sim, db, lookback_days=None), tmp,
                   {**env, "FLAKY_DESTINATION": mode}, preload=FLAKY)
    first = requests_total(sim)
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-3000:])
    assert "the destination failed" in proc.stderr
    assert "Traceback" not in proc.stdout
    assert _pending_packages(tmp / "pipelines"), "extracted package was not kept"

    sim.reset_stats()
    proc = run_cli(load_args(sim, db, lookback_days=None), tmp, env, preload=FLAKY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(db)), sim.workspace.truth())
    assert not _pending_packages(tmp / "pipelines")
    assert requests_total(sim) <= 0.25 * first


@pytest.mark.parametrize("mode,cause", [
    ("connect", CONNECT_MESSAGE),
    pytest.param("job", JOB_MESSAGE, marks=pytest.mark.xfail(strict=True, reason=(
        "a failed dlt load job prints dlt's ERROR log records with tracebacks on stderr, and "
        "ingest.errors.explain reports LoadClientJob*'s first line 'Traceback (most recent "
        "call last):' instead of the cause (client_exception)"))),
])
def test_destination_failure_is_one_clear_line(sim, work, mode, cause):
    tmp, db, env = work
    proc = run_cli(load_args(sim, db, lookback_days=None), tmp,
                   {**env, "FLAKY_DESTINATION": mode}, preload=FLAKY)
    assert_one_line_failure(proc, 1, "the destination failed", cause, "kept",
                            secrets=(TOKEN,))


def test_warehouse_down_mid_run_resumes_from_committed_slices(sim, work):
    """The warehouse goes down after some slices were loaded: the run stops at the first
    failing load; the next run loads the kept slice and continues from its checkpoint."""
    tmp, db, env = work
    down = tmp / "warehouse-down"
    env = {**env, "SOURCES__SLACK__SLICE_ROWS": "1500", "FLAKY_DESTINATION": "connect",
           "FLAKY_DESTINATION_WHILE": str(down)}
    # a clean run of the same load, for the yardstick
    clean_tmp = tmp / "clean"
    clean_tmp.mkdir()
    sim.reset_stats()
    proc = run_cli(load_args(sim, clean_tmp / "w.duckdb", lookback_days=None), clean_tmp,
                   {**env, "SLACK_INGEST__PIPELINES_DIR": str(clean_tmp / "pipelines")},
                   preload=FLAKY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean = requests_total(sim)

    sim.reset_stats()
    p = subprocess.Popen(cli_argv(load_args(sim, db, lookback_days=None), FLAKY), cwd=tmp,
                         env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert wait_for(lambda: requests_total(sim) >= clean // 2 or p.poll() is not None, 300)
    assert p.poll() is None, "the run finished before the warehouse went down"
    down.touch()
    out, err = p.communicate(timeout=300)
    first = requests_total(sim)
    assert p.returncode == 1, err[-3000:]
    assert "the destination failed" in err and CONNECT_MESSAGE in err
    assert _pending_packages(tmp / "pipelines")

    down.unlink()
    sim.reset_stats()
    proc = run_cli(load_args(sim, db, lookback_days=None), tmp, env, preload=FLAKY)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(db)), sim.workspace.truth())
    # both runs together: one clean run plus at most the slices in flight
    assert first + requests_total(sim) <= 1.5 * clean, (first, requests_total(sim), clean)
