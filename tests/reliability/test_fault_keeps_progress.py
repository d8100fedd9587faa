"""What a run that stops keeps, and that its one line says so truthfully (issue 16):

- slices end by time (`slice_seconds`) as well as by rows, so a slow run commits as it goes;
- a run whose Slack calls run out of retries loads what it fetched, then exits 1 with
  "kept N messages and M channels' progress in FILE";
- Ctrl-C says what was really kept: nothing, or the slices loaded.

`slack-ingest run` subprocesses against a loopback simulator that enforces Slack's rate
limits (profile internal at time scale 30), so a `small` load takes several seconds."""

from __future__ import annotations

import re
import signal
import subprocess
from pathlib import Path

import pytest

from ingest.simulator import SimulatorThread, Workspace
from tests.reliability.support import (
    assert_one_line_failure,
    cli_argv,
    cli_env,
    message_count,
    wait_for,
)

TOKEN = "xoxb-1617-keeps-progress"
TIME_SCALE = 30.0
#: Slices by time only (rows never end one here), and a short retry budget (0.5 s real).
BY_TIME = {
    "SOURCES__SLACK__SLICE_SECONDS": "1",
    "SOURCES__SLACK__SLICE_ROWS": "100000000",
    "SOURCES__SLACK__MAX_RETRY_WAIT_S": "15",
}


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="small", seed=17, token=TOKEN)
    with SimulatorThread(ws, profile="internal", time_scale=TIME_SCALE) as s:
        yield s


def _start(sim, tmp: Path, extra: dict[str, str] | None = None) -> subprocess.Popen:
    args = [
        "run",
        "--base-url",
        sim.base_url,
        "--profile",
        "internal",
        "--time-scale",
        str(TIME_SCALE),
        "--duckdb-path",
        str(tmp / "w.duckdb"),
        "--quiet",
    ]
    return subprocess.Popen(
        cli_argv(args),
        cwd=tmp,
        env=cli_env(TOKEN, tmp / "pipelines", extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(p: subprocess.Popen) -> subprocess.CompletedProcess:
    try:
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    return subprocess.CompletedProcess(p.args, p.returncode, out, err)


def _loaded_packages(tmp: Path) -> int:
    return sum(1 for p in (tmp / "pipelines").glob("*/load/loaded/*") if p.is_dir())


def _kept(line: str, db: Path) -> tuple[int, int]:
    """(messages, channels) a line says were kept in `db`."""
    match = re.search(
        r"kept ([\d,]+) messages and ([\d,]+) channel(?:'s|s') progress in (\S+);", line
    )
    assert match, line
    assert match.group(3) == str(db), line
    return int(match.group(1).replace(",", "")), int(match.group(2).replace(",", ""))


def _history_requests(sim) -> int:
    return int(sim.stats()["methods"].get("conversations.history", {}).get("requests", 0))


def test_a_run_that_fails_keeps_its_time_slices_and_says_so(sim, tmp_path):
    db = tmp_path / "w.duckdb"
    sim.reset_stats()
    p = _start(sim, tmp_path, BY_TIME)
    try:
        # a slice is committed by time, long before the load could end
        assert wait_for(lambda: _loaded_packages(tmp_path) >= 2 or p.poll() is not None, 60)
        assert p.poll() is None, "the run ended before a slice was committed by time"
        committed = message_count(db)
        assert committed > 0
        sim.set_faults("http503=1")  # Slack goes down for longer than the retry budget
        proc = _finish(p)
    finally:
        sim.set_faults("")
    line = assert_one_line_failure(
        proc, 1, "Slack request failed", "503", "rerun to continue", secrets=(TOKEN,)
    )
    kept, channels = _kept(line, db)
    # what the line claims is in the file, including what was fetched since the last slice
    assert committed <= kept == message_count(db), (committed, kept, line)
    assert channels > 0
    assert kept < sim.workspace.truth().message_count()


def test_ctrl_c_before_anything_was_committed_says_nothing_was_kept(sim, tmp_path):
    sim.reset_stats()
    p = _start(sim, tmp_path)  # default slices: `small` is one slice, loaded at the end
    assert wait_for(lambda: _history_requests(sim) >= 5 or p.poll() is not None, 60)
    assert p.poll() is None
    p.send_signal(signal.SIGINT)
    proc = _finish(p)
    line = assert_one_line_failure(
        proc, 130, "interrupted: nothing was loaded by this run", secrets=(TOKEN,)
    )
    assert "kept" not in line
    assert message_count(tmp_path / "w.duckdb") == 0


def test_ctrl_c_after_a_commit_says_what_was_kept(sim, tmp_path):
    db = tmp_path / "w.duckdb"
    p = _start(sim, tmp_path, BY_TIME)
    assert wait_for(lambda: _loaded_packages(tmp_path) >= 2 or p.poll() is not None, 60)
    assert p.poll() is None, "the run ended before a slice was committed by time"
    p.send_signal(signal.SIGINT)
    proc = _finish(p)
    line = assert_one_line_failure(
        proc, 130, "interrupted: kept", "run again to continue", secrets=(TOKEN,)
    )
    kept, channels = _kept(line, db)
    # a load the signal cut short may have written rows it does not count as kept
    assert 0 < kept <= message_count(db) and channels > 0, (kept, line)
