"""Destination failures: a DuckDB file locked by another process, and a warehouse that fails
on demand (tests.reliability.flaky_destination: a load job rejected, or no connection).
The run stops with one clear line and exit code 1, the extracted data is kept (a pending
dlt load package), and the next run loads it and goes on: the destination ends equal to
the truth, and the reruns do not fetch everything again.

A `small` workspace is one slice with the default settings, so a run that fails at its
load keeps everything it fetched and the rerun costs only the incremental re-read. The
mid-run outage uses slices of 1,500 rows, 4 channels at a time, checkpoints every 2
history pages.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.reliability.flaky_destination import CONNECT_MESSAGE, JOB_MESSAGE
from tests.reliability.support import (
    SLICED,
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


def _env(tmp: Path, **extra: str) -> dict[str, str]:
    return cli_env(TOKEN, tmp / "pipelines", extra)


def _run(sim: Any, tmp: Path, **extra: str) -> tuple[subprocess.CompletedProcess, int]:
    """One `slack-ingest run` (with the flaky destination hook); its simulator requests."""
    sim.reset_stats()
    proc = run_cli(
        load_args(sim, tmp / "w.duckdb", lookback_days=None), tmp, _env(tmp, **extra), preload=FLAKY
    )
    return proc, requests_total(sim)


def _pending_packages(tmp: Path) -> list[str]:
    """Load packages extracted and normalized but not (fully) loaded."""
    return sorted(p.name for p in (tmp / "pipelines").glob("*/load/normalized/*") if p.is_dir())


def _loaded_packages(tmp: Path) -> int:
    return sum(1 for p in (tmp / "pipelines").glob("*/load/loaded/*") if p.is_dir())


@pytest.fixture(scope="module")
def clean_requests(sim, tmp_path_factory):
    """Requests of one clean run (slicing does not change how many requests a load makes)."""
    tmp = tmp_path_factory.mktemp("clean")
    proc, n = _run(sim, tmp)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(tmp / "w.duckdb")), sim.workspace.truth())
    return n


@pytest.fixture(scope="module")
def outage(sim, tmp_path_factory):
    """Per failure mode: a run against a failing warehouse, then a run after it is back."""
    runs = {}
    for mode in ("connect", "job"):
        tmp = tmp_path_factory.mktemp(f"down-{mode}")
        failed, n_failed = _run(sim, tmp, FLAKY_DESTINATION=mode)
        pending = _pending_packages(tmp)
        rerun, n_rerun = _run(sim, tmp)
        runs[mode] = {
            "failed": failed,
            "n_failed": n_failed,
            "pending": pending,
            "rerun": rerun,
            "n_rerun": n_rerun,
            "tmp": tmp,
        }
    return runs


def test_duckdb_locked_by_another_process(sim, tmp_path, clean_requests):
    db = tmp_path / "w.duckdb"
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys\n"
            f"con = duckdb.connect({str(db)!r})\n"
            "con.execute('create table if not exists held (i int)')\n"
            "print('locked', flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        proc, first = _run(sim, tmp_path)
        assert_one_line_failure(proc, 1, "locked", "kept", secrets=(TOKEN,))
        assert _pending_packages(tmp_path), "the extracted package was not kept"
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)

    proc, rerun = _run(sim, tmp_path)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(db)), sim.workspace.truth())
    assert not _pending_packages(tmp_path)
    # the failed run fetched everything; the rerun loaded the kept package and only
    # re-read what an incremental run re-reads
    assert first >= clean_requests, (first, clean_requests)
    assert rerun <= 0.25 * clean_requests, (first, rerun, clean_requests)


@pytest.mark.parametrize("mode", ["connect", "job"])
def test_destination_down_then_next_run_loads_the_kept_data(sim, outage, mode, clean_requests):
    run = outage[mode]
    assert run["failed"].returncode == 1, run["failed"].stderr[-3000:]
    assert "the destination failed" in run["failed"].stderr
    assert run["pending"], "the extracted package was not kept"
    assert run["rerun"].returncode == 0, run["rerun"].stderr[-3000:]
    assert_exact(Target(duckdb_path=str(run["tmp"] / "w.duckdb")), sim.workspace.truth())
    assert not _pending_packages(run["tmp"])
    assert run["n_failed"] >= clean_requests, (run["n_failed"], clean_requests)
    assert run["n_rerun"] <= 0.25 * clean_requests, (run["n_rerun"], clean_requests)


@pytest.mark.parametrize(
    "mode,cause",
    [
        ("connect", CONNECT_MESSAGE),
        ("job", JOB_MESSAGE),
    ],
)
def test_destination_failure_is_one_clear_line(outage, mode, cause):
    assert_one_line_failure(
        outage[mode]["failed"], 1, "the destination failed", cause, "kept", secrets=(TOKEN,)
    )


def test_warehouse_down_mid_run_resumes_from_committed_slices(sim, tmp_path, clean_requests):
    """The warehouse goes down after two slices were loaded: the run stops at the next
    load; the next run loads the kept slice and continues from its checkpoints."""
    down = tmp_path / "warehouse-down"
    extra = {**SLICED, "FLAKY_DESTINATION": "connect", "FLAKY_DESTINATION_WHILE": str(down)}
    env = _env(tmp_path, **extra)
    sim.reset_stats()
    p = subprocess.Popen(
        cli_argv(load_args(sim, tmp_path / "w.duckdb", lookback_days=None), FLAKY),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert wait_for(lambda: _loaded_packages(tmp_path) >= 2 or p.poll() is not None, 300)
    down.touch()
    assert p.poll() is None, "the run finished before the warehouse went down"
    _, err = p.communicate(timeout=300)
    first = requests_total(sim)
    assert p.returncode == 1, err[-3000:]
    assert "the destination failed" in err and CONNECT_MESSAGE in err
    assert _pending_packages(tmp_path)

    down.unlink()
    proc, rerun = _run(sim, tmp_path, **extra)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert_exact(Target(duckdb_path=str(tmp_path / "w.duckdb")), sim.workspace.truth())
    clean = clean_requests
    print(f"warehouse down mid-run: clean {clean}, failed run {first}, rerun {rerun} requests")
    # the two loaded slices and the kept one were not fetched again
    assert rerun <= 0.8 * clean, (first, rerun, clean)


def test_duckdb_out_of_memory_says_which_limit_and_the_rerun_loads_it(sim, tmp_path):
    """A DuckDB memory limit too small for a slice even at 8x (256KB, up to 2MB): one line
    naming the setting to raise, exit 1, the extracted package kept; the rerun with the
    default limit loads it exactly."""
    first = run_cli(
        load_args(sim, tmp_path / "w.duckdb", "--duckdb-memory-limit", "256KB", lookback_days=None),
        tmp_path,
        _env(tmp_path),
    )
    assert_one_line_failure(first, 1, "DuckDB ran out of memory", "duckdb_memory_limit")
    assert _pending_packages(tmp_path), "the extracted slice must be kept for the next run"
    sim.reset_stats()
    second = run_cli(
        load_args(sim, tmp_path / "w.duckdb", lookback_days=None), tmp_path, _env(tmp_path)
    )
    assert second.returncode == 0, second.stderr[-3000:]
    assert _pending_packages(tmp_path) == []
    assert_exact(Target(duckdb_path=str(tmp_path / "w.duckdb")), sim.workspace.truth())


@pytest.mark.parametrize("limit", ["lots", "64", "-1MB"])
def test_bad_duckdb_memory_limit_is_a_user_mistake(sim, tmp_path, limit):
    proc = run_cli(
        load_args(sim, tmp_path / "w.duckdb", "--duckdb-memory-limit", limit),
        tmp_path,
        _env(tmp_path),
    )
    assert_one_line_failure(proc, 2, "duckdb_memory_limit", limit)
    assert not (tmp_path / "w.duckdb").exists()


def test_duckdb_out_of_memory_is_loaded_again_with_a_raised_limit(sim, tmp_path):
    """8 MB cannot hold a slice: the load runs out of memory, is loaded again at 16 MB and
    then 32 MB within the same run, and ends exact; the summary says what happened."""
    summary = tmp_path / "summary.json"
    proc = run_cli(
        load_args(
            sim,
            tmp_path / "w.duckdb",
            "--duckdb-memory-limit",
            "8MB",
            "--json",
            str(summary),
            lookback_days=None,
        ),
        tmp_path,
        _env(tmp_path),
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    notes = json.loads(summary.read_text())["progress"]["notes"]
    assert "DuckDB ran out of memory at 8MB: loading again at 16MB" in notes, notes
    assert _pending_packages(tmp_path) == []
    assert_exact(Target(duckdb_path=str(tmp_path / "w.duckdb")), sim.workspace.truth())
