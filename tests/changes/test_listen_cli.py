"""`slack-ingest listen` as a user runs it: one line and exit 2 for a bad app token or base
URL (and no journal file), exit 1 when Slack disables Socket Mode, 0 on SIGTERM, 130 on
Ctrl-C; what it recorded is said, the tokens never are."""

from __future__ import annotations

import json
import signal
import subprocess
import time

import pytest

from ingest.load.journal import Journal
from ingest.simulator import DEFAULT_APP_TOKEN, SimulatorThread, Workspace
from tests.changes.support import STARTED
from tests.reliability.support import (
    assert_one_line_failure,
    cli_argv,
    cli_env,
    run_cli,
    wait_for,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="tiny", seed=71)
    with SimulatorThread(ws, profile="unlimited") as s:
        yield s


def _args(sim, tmp_path, *more: str) -> list[str]:
    return [
        "listen",
        "--base-url",
        sim.base_url,
        "--journal",
        str(tmp_path / "j.sqlite"),
        *more,
    ]


@pytest.mark.parametrize(
    ("token", "needle"),
    [
        ("xoxb-not-an-app-token", "is malformed"),
        ("xapp-1-unknown", "Slack rejected the app-level token (invalid_auth)"),
        (None, "no app-level token"),
    ],
)
def test_bad_app_token_is_one_line_and_creates_nothing(sim, tmp_path, token, needle):
    extra = {"SOURCES__SLACK__APP_TOKEN": token} if token else {}
    proc = run_cli(_args(sim, tmp_path), tmp_path, cli_env(None, extra=extra), timeout=60)
    secrets = (token,) if token else ()
    assert_one_line_failure(proc, 2, needle, secrets=secrets)
    assert not (tmp_path / "j.sqlite").exists()


def test_unreachable_or_wrong_base_url_is_one_line(sim, tmp_path):
    env = cli_env(None, extra={"SOURCES__SLACK__APP_TOKEN": DEFAULT_APP_TOKEN})
    args = _args(sim, tmp_path)
    args[2] = "http://127.0.0.1:9/api/"
    assert_one_line_failure(
        run_cli(args, tmp_path, env, timeout=60), 2, "cannot reach", secrets=(DEFAULT_APP_TOKEN,)
    )
    args[2] = sim.url + "/elsewhere/"
    assert_one_line_failure(run_cli(args, tmp_path, env, timeout=60), 2, "not_the_slack_api")
    assert not (tmp_path / "j.sqlite").exists()


def _start(sim, tmp_path, *more: str) -> subprocess.Popen[str]:
    env = cli_env(None, extra={"SOURCES__SLACK__APP_TOKEN": DEFAULT_APP_TOKEN})
    opened = sim.sim.socket.stats()["connections_opened"]
    proc = subprocess.Popen(
        cli_argv(_args(sim, tmp_path, *more)),
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(proc)
    assert wait_for(lambda: sim.sim.socket.stats()["connections_opened"] > opened, 30)
    return proc


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGINT, 130)])
def test_stopping_says_what_was_recorded(sim, tmp_path, sig, code):
    proc = _start(sim, tmp_path, "--json", str(tmp_path / "out.json"))
    ws = sim.workspace
    cid = sorted(ws.truth().readable_channel_ids)[0]
    for i in range(3):
        ws.post_message(cid, text=f"hello {i}")
    assert wait_for(lambda: (tmp_path / "j.sqlite").exists(), 10)
    with Journal(tmp_path / "j.sqlite") as j:
        assert wait_for(lambda: j.stats().pending >= 3, 10)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == code, (out, err)
    assert "stopped: recorded 3 events" in out
    assert "3 wait in" in out
    doc = json.loads((tmp_path / "out.json").read_text())
    assert doc["recorded"] == 3 and doc["pending"] == 3
    assert DEFAULT_APP_TOKEN not in out + err + (tmp_path / "out.json").read_text()


def test_socket_mode_turned_off_stops_with_exit_1(tmp_path):
    ws = Workspace.generate(size="tiny", seed=72)
    with SimulatorThread(ws, profile="unlimited") as sim:
        proc = _start(sim, tmp_path)
        cid = sorted(ws.truth().readable_channel_ids)[0]
        ws.post_message(cid, text="one event first")
        with Journal(tmp_path / "j.sqlite") as j:
            assert wait_for(lambda: j.stats().pending == 1, 10)
        sim.sim.socket.disable()
        out, err = proc.communicate(timeout=30)
    assert proc.returncode == 1, (out, err)
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and "link_disabled" in lines[0] and "recorded 1 events" in lines[0]


def test_refreshes_and_dropped_sockets_reconnect_with_a_fresh_url(tmp_path):
    """Slack rotates connections (`disconnect` warning, then refresh_requested) and sockets
    drop: the listener reconnects each time with a new single-use URL and keeps recording
    every event delivered while a connection is open."""
    ws = Workspace.generate(size="tiny", seed=73)
    with SimulatorThread(ws, profile="unlimited", socket_refresh_s=2.0) as sim:
        proc = _start(sim, tmp_path)
        cid = sorted(ws.truth().readable_channel_ids)[0]
        socket = sim.sim.socket
        for i in range(12):
            assert wait_for(lambda: socket.stats()["open"] >= 1, 20)
            ws.post_message(cid, text=f"round {i}")
            if i == 6:
                socket.drop()  # a network error, not a polite disconnect
            time.sleep(0.5)
        stats = socket.stats()
        assert wait_for(
            lambda: (
                socket.stats()["acked"]
                >= stats["events_published"]
                - stats["lost_no_connection"]
                - stats["dropped_after_retries"]
            ),
            20,
        )
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
    stats = socket.stats()
    assert proc.returncode == 0, (out, err)
    assert stats["connections_opened"] >= 3, stats  # refreshes and the drop
    with Journal(tmp_path / "j.sqlite") as j:
        recorded = j.stats().pending
    assert (
        recorded
        == stats["events_published"] - stats["lost_no_connection"] - stats["dropped_after_retries"]
    ), stats
    assert recorded >= 10, stats
