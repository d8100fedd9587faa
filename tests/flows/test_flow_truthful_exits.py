"""Issue 16 for `slack-ingest flow run`: the checks it shares with `slack-ingest run`
(settings validation, the preflight, the channel plan) give the same one line and exit 2."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.simulator import SimulatorThread, Workspace

REPO = Path(__file__).resolve().parents[2]
TOKEN = "xoxb-1617-flow-truthful"


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="tiny", seed=81, token=TOKEN)  # announcements: not a member
    with SimulatorThread(ws, profile="unlimited") as s:
        yield s


@pytest.mark.parametrize(
    "args,needles",
    [
        (["--start-date", "1900-01-01"], ("before Slack existed", "--start-date")),
        (["--time-scale", "nan"], ("time_scale must be a finite number", "--time-scale")),
        (
            ["--channel", "announcements"],
            ("none of the channels asked for can be read", "#announcements (C"),
        ),
    ],
)
def test_flow_run_mistake_is_one_line_exit_2(sim, tmp_path, args, needles):
    from prefect.settings import PREFECT_API_URL

    env = {
        **os.environ,
        "PREFECT_API_URL": str(PREFECT_API_URL.value()),
        "SOURCES__SLACK__ACCESS_TOKEN": TOKEN,
        "SLACK_INGEST_SECRET_BLOCK": "no-such-block",
    }
    env.pop("SLACK_INGEST_DEBUG", None)
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "run",
            "--base-url",
            sim.base_url,
            "--profile",
            "unlimited",
            "--duckdb-path",
            str(tmp_path / "w.duckdb"),
            "--quiet",
            *args,
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1, proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    assert "Traceback" not in proc.stderr + proc.stdout
    assert TOKEN not in proc.stderr + proc.stdout
    assert "conversations.history" not in sim.stats()["methods"]
