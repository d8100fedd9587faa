"""Server lifecycle: SimulatorThread, admin endpoints, bad input, the CLI entry point."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ingest.simulator import SimulatorConfigError, SimulatorThread, Workspace, serve_simulator

from .conftest import Env, Starter

ROOT = Path(__file__).resolve().parents[2]


def _get(url: str, token: str | None = None, data: bytes | None = None) -> tuple[int, Any]:
    req = urllib.request.Request(url, data=data)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_simulator_thread_serves_sync_callers() -> None:
    ws = Workspace.generate("tiny", 1)
    with SimulatorThread(ws, profile="unlimited") as sim:
        assert sim.base_url.startswith("http://127.0.0.1:") and sim.base_url.endswith("/api/")
        assert sim.url + "/api/" == sim.base_url and sim.workspace is ws
        status, body = _get(sim.base_url + "auth.test", ws.token)
        assert status == 200 and body["team_id"] == ws.team_id
        cid = ws.channels[1].id
        ts = ws.post_message(cid, text="from the main thread")
        status, body = _get(sim.base_url + f"conversations.history?channel={cid}&limit=1", ws.token)
        assert body["messages"][0]["ts"] == ts
        assert sim.stats()["methods"]["conversations.history"]["requests"] == 1
        sim.reset_stats()
        assert sim.stats()["totals"]["requests"] == 0
        sim.add_token("xoxb-revoked", revoked=True)
        assert _get(sim.base_url + "auth.test", "xoxb-revoked")[1]["error"] == "token_revoked"
        sim.set_faults("internal_error=1")
        assert _get(sim.base_url + "auth.test", ws.token)[1]["error"] == "internal_error"
        port = sim.port
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"http://127.0.0.1:{port}/_sim/health", timeout=2)


def test_thread_start_raises_bind_errors() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        sim = SimulatorThread(Workspace.generate("tiny"), port=port)
        with pytest.raises(SimulatorConfigError, match=f"cannot listen on 127.0.0.1:{port}"):
            sim.start()


async def test_port_in_use(tiny: Env) -> None:
    with pytest.raises(SimulatorConfigError, match="cannot listen") as e:
        async with serve_simulator(tiny.ws, port=tiny.sim.port):
            pass
    assert "\n" not in str(e.value)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"profile": "premium"}, "unknown profile 'premium'"),
        ({"faults": "explode=1"}, "unknown fault kind 'explode'"),
        ({"time_scale": 0}, "time_scale must be > 0"),
        ({"latency_ms": -5}, "latency_ms must be >= 0"),
    ],
)
async def test_bad_config(kwargs: dict[str, Any], message: str) -> None:
    ws = Workspace.generate("tiny")
    with pytest.raises(SimulatorConfigError, match=message):
        async with serve_simulator(ws, **kwargs):
            pass
    with pytest.raises(ValueError, match=message):
        SimulatorThread(ws, **kwargs)


async def test_admin_health_and_truth(tiny: Env) -> None:
    s = tiny.client.session
    async with s.get(tiny.sim.url + "/_sim/health") as r:
        body = await r.json()
    assert body["ok"] and body["size"] == "tiny" and body["team_id"] == tiny.ws.team_id
    async with s.get(tiny.sim.url + "/_sim/truth") as r:
        body = await r.json()
    t = tiny.ws.truth()
    assert {tuple(k) for k in body["messages"]} == t.messages
    assert set(body["channel_ids"]) == t.channel_ids
    assert set(body["readable_channel_ids"]) == t.readable_channel_ids
    assert set(body["user_ids"]) == t.user_ids
    assert {tuple(k) for k in body["members"]} == t.members
    assert (body["message_count"], body["reply_count"]) == (t.message_count(), t.reply_count())


async def test_admin_truth_refuses_large(serve: Starter) -> None:
    env = await serve("large")
    async with env.client.session.get(env.sim.url + "/_sim/truth") as r:
        assert r.status == 400 and "too big" in (await r.json())["error"]


def test_cli_entry_point_serves_until_sigterm(tmp_path: Path) -> None:
    code = (
        "from ingest.simulator.main import run_simulator_cli\n"
        "run_simulator_cli(port=0, size='tiny', seed=3, token='xoxb-cli', time_scale=60,\n"
        "                  app_token='xapp-cli', socket_refresh_s=30)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert "xoxb-cli" in line and "/api/" in line
        base = next(w for w in line.split() if w.startswith("http://"))
        status, body = _get(base + "auth.test", "xoxb-cli")
        assert status == 200 and body["ok"]
        assert "app-token xapp-cli" in line
        status, body = _get(base + "apps.connections.open", "xapp-cli")
        assert status == 200 and body["ok"] and "/_sim/socket?ticket=" in body["url"]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_entry_point_bad_input() -> None:
    from ingest.simulator.main import run_simulator_cli

    with pytest.raises(SimulatorConfigError, match="unknown workspace size"):
        run_simulator_cli(port=0, size="gigantic")
    with pytest.raises(SimulatorConfigError, match="unknown fault kind"):
        run_simulator_cli(port=0, faults="boom=1")
    with pytest.raises(SimulatorConfigError, match="unknown profile"):
        run_simulator_cli(port=0, profile="vip")
    with pytest.raises(SimulatorConfigError, match="socket refresh"):
        run_simulator_cli(port=0, socket_refresh_s=0)
    with pytest.raises(SimulatorConfigError, match="app_token must differ"):
        run_simulator_cli(port=0, token="xoxb-same", app_token="xoxb-same")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        with pytest.raises(SimulatorConfigError, match="cannot listen"):
            run_simulator_cli(port=s.getsockname()[1])


async def test_http_methods_other_than_get_post(tiny: Env) -> None:
    async with tiny.client.session.put(
        tiny.sim.base_url + "auth.test", headers={"Authorization": f"Bearer {tiny.ws.token}"}
    ) as r:
        assert r.status == 200  # any verb is served (query and form fields are read)
    async with tiny.client.session.get(tiny.sim.url + "/nothing-here") as r:
        assert r.status == 404
