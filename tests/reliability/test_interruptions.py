"""A run stopped from outside, half way through a sliced load: Slack down for longer than
the client's retries, the token revoked, Ctrl-C. Each stops with one clear line and its
exit code, keeps the slices already loaded, and the next run (once the cause is gone)
finishes with the destination equal to the truth, without fetching everything again."""

from __future__ import annotations

import signal
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
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

TOKEN = "xoxb-7070-interruptions"


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="small", seed=71, token=TOKEN)
    with SimulatorThread(ws, profile="unlimited") as s:
        yield s


def _env(tmp: Path) -> dict[str, str]:
    # "Slack down longer than the retries": a 2-second retry budget (the default is
    # 10 Slack minutes, real minutes at time scale 1)
    return cli_env(TOKEN, tmp / "pipelines", {**SLICED, "SOURCES__SLACK__MAX_RETRY_WAIT_S": "2"})


def _loaded_packages(tmp: Path) -> int:
    return sum(1 for p in (tmp / "pipelines").glob("*/load/loaded/*") if p.is_dir())


@pytest.fixture(scope="module")
def clean_requests(sim, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("clean")
    sim.reset_stats()
    proc = run_cli(load_args(sim, tmp / "w.duckdb", lookback_days=None), tmp, _env(tmp))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return requests_total(sim)


def _interrupt_then_resume(
    sim: Any, tmp: Path, interrupt: Callable[[Any], None], restore: Callable[[], None]
) -> dict[str, Any]:
    """Start a run; once two slices are loaded, interrupt it; wait for it to stop; restore;
    rerun to completion."""
    db = tmp / "w.duckdb"
    sim.reset_stats()
    p = subprocess.Popen(
        cli_argv(load_args(sim, db, lookback_days=None)),
        cwd=tmp,
        env=_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert wait_for(lambda: _loaded_packages(tmp) >= 2 or p.poll() is not None, 300)
        assert p.poll() is None, "the run finished before it was interrupted"
        interrupt(p)
        out, err = p.communicate(timeout=120)
    finally:
        restore()
        if p.poll() is None:
            p.kill()
    first = requests_total(sim)
    sim.reset_stats()
    rerun = run_cli(load_args(sim, db, lookback_days=None), tmp, _env(tmp))
    return {
        "interrupted": subprocess.CompletedProcess(p.args, p.returncode, out, err),
        "first": first,
        "rerun": rerun,
        "n_rerun": requests_total(sim),
        "db": db,
    }


def _assert_resumed(sim: Any, run: dict[str, Any], clean: int) -> None:
    assert run["rerun"].returncode == 0, run["rerun"].stderr[-3000:]
    assert_exact(Target(duckdb_path=str(run["db"])), sim.workspace.truth())
    print(f"interrupted run {run['first']}, rerun {run['n_rerun']}, clean {clean} requests")
    # the loaded slices were not fetched again
    assert run["n_rerun"] <= 0.8 * clean, (run["first"], run["n_rerun"], clean)


def test_slack_down_longer_than_retries(sim, tmp_path, clean_requests):
    run = _interrupt_then_resume(
        sim, tmp_path, lambda p: sim.set_faults("http503=1"), lambda: sim.set_faults("")
    )
    assert_one_line_failure(
        run["interrupted"], 1, "Slack request failed", "503", "rerun to continue", secrets=(TOKEN,)
    )
    _assert_resumed(sim, run, clean_requests)


def test_token_revoked_mid_run(sim, tmp_path, clean_requests):
    run = _interrupt_then_resume(
        sim, tmp_path, lambda p: sim.add_token(TOKEN, revoked=True), lambda: sim.add_token(TOKEN)
    )
    assert_one_line_failure(
        run["interrupted"], 2, "rejected the token (token_revoked)", secrets=(TOKEN,)
    )
    _assert_resumed(sim, run, clean_requests)


@pytest.fixture(scope="module")
def ctrl_c(sim, tmp_path_factory, clean_requests):
    return _interrupt_then_resume(
        sim, tmp_path_factory.mktemp("ctrl-c"), lambda p: p.send_signal(signal.SIGINT), lambda: None
    )


def test_ctrl_c_keeps_progress_and_resumes(sim, ctrl_c, clean_requests):
    """Ctrl-C at a random point of a sliced load (here: just after a slice was loaded)."""
    assert "Traceback" not in ctrl_c["interrupted"].stderr
    _assert_resumed(sim, ctrl_c, clean_requests)


def test_ctrl_c_while_loading_is_one_clear_line(sim, tmp_path):
    # one slice (default settings): the SIGINT comes from the first load job
    proc = run_cli(
        load_args(sim, tmp_path / "w.duckdb", lookback_days=None),
        tmp_path,
        cli_env(TOKEN, tmp_path / "pipelines", {"FLAKY_DESTINATION": "sigint"}),
        preload="tests.reliability.flaky_destination",
    )
    assert_one_line_failure(proc, 130, "interrupted", "kept", secrets=(TOKEN,))


def test_a_failed_run_leaves_no_fetcher_thread_behind(target, monkeypatch):
    from dlt.common.destination.exceptions import DestinationTransientException
    from dlt.destinations.impl.duckdb.sql_client import DuckDbSqlClient

    from ingest.source.fanout import HistoryFanout
    from tests.integration.helpers import load

    def unreachable(self):
        raise DestinationTransientException("warehouse unreachable")

    def quick_join(self):  # HistoryFanout._join with 5 s instead of 30 s
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)

    monkeypatch.setattr(DuckDbSqlClient, "open_connection", unreachable)
    monkeypatch.setattr(HistoryFanout, "_join", quick_join)
    before = {t.ident for t in threading.enumerate()}
    ws = Workspace.generate(size="small", seed=72)
    with SimulatorThread(ws, profile="unlimited") as s:
        with pytest.raises(Exception, match="unreachable"):
            load(s, target, slice_rows=1500)
    left = [
        t.name
        for t in threading.enumerate()
        if t.ident not in before and t.name == "slack-ingest-fanout" and t.is_alive()
    ]
    assert not left, f"fetcher threads still running after the run failed: {left}"


def test_ctrl_c_swallowed_by_a_callback_is_sent_again():
    """Python swallows a KeyboardInterrupt raised inside a weakref/finalizer callback (it
    prints "Exception ignored"); the CLI's hook re-sends SIGINT so the run still stops."""
    import time
    from types import SimpleNamespace

    from ingest.cli.app import _redeliver_swallowed_interrupt

    with pytest.raises(KeyboardInterrupt):
        _redeliver_swallowed_interrupt(SimpleNamespace(exc_value=KeyboardInterrupt()))
        time.sleep(2)
