"""Issue 16: exit codes that say what happened. A Slack API that goes away in the middle
of a run is a runtime failure (exit 1: rerun to continue), not a configuration mistake
(exit 2): the preflight reached the same URL a moment before."""

from __future__ import annotations

import subprocess

from ingest.load.explain import RUNTIME_FAILURE, USER_MISTAKE, explain
from ingest.simulator import SimulatorThread, Workspace
from ingest.slack import SlackConnectionError
from tests.reliability.support import (
    assert_one_line_failure,
    cli_argv,
    cli_env,
    load_args,
    wait_for,
)

TOKEN = "xoxb-1616-truthful-exits"


def test_connection_lost_mid_run_is_a_runtime_failure():
    lost = SlackConnectionError(
        "conversations.history",
        base_url="http://127.0.0.1:9/api/",
        attempts=6,
        last_error="Connection refused",
    )
    code, line = explain(lost)
    assert code == RUNTIME_FAILURE != USER_MISTAKE, line
    assert "rerun to continue" in line


def test_simulator_killed_mid_run_exits_1(tmp_path):
    ws = Workspace.generate(size="tiny", seed=161, token=TOKEN)
    sim = SimulatorThread(ws, profile="unlimited")
    sim.start()
    # time scale 60 and a one-minute retry budget (Slack time): a second of retries
    args = load_args(sim, tmp_path / "w.duckdb", "--time-scale", "60")
    env = cli_env(TOKEN, tmp_path / "p", {"SOURCES__SLACK__MAX_RETRY_WAIT_S": "60"})
    p = subprocess.Popen(
        cli_argv(args),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # once the channels were listed (the checks before the run reached the API), the
        # server goes away: the clients the run opens next cannot connect
        assert wait_for(
            lambda: "conversations.list" in sim.stats()["methods"] or p.poll() is not None,
            60,
            interval=0.002,
        )
        assert p.poll() is None, "the run finished before the simulator was stopped"
    finally:
        sim.stop()
    try:
        out, err = p.communicate(timeout=120)
    finally:
        if p.poll() is None:
            p.kill()
    proc = subprocess.CompletedProcess(p.args, p.returncode, out, err)
    # exit 1 (was 2, "cannot reach ..." as if the URL were wrong)
    assert_one_line_failure(proc, 1, "rerun to continue", secrets=(TOKEN,))
