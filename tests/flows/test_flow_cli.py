"""`slack-ingest flow run|serve` (the typer app the main CLI mounts as `flow`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from flows.cli import flow_app
from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import assert_matches_truth

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def _cli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`slack-ingest flow ...` in a real process against the session's Prefect server."""
    from prefect.settings import PREFECT_API_URL

    full = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value()), **env}
    return subprocess.run(
        [sys.executable, "-m", "flows.cli", *args],
        env=full,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=REPO,
    )


def test_flow_run_loads_with_the_run_flags_plus_shards(tmp_path):
    ws = Workspace.generate(size="tiny", seed=51)
    db = tmp_path / "warehouse.duckdb"
    out = tmp_path / "summary.json"
    env = {
        "SOURCES__SLACK__ACCESS_TOKEN": "xoxb-not-this-one",  # --token wins
        "SLACK_INGEST_SECRET_BLOCK": "no-such-block",
    }
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        proc = _cli(
            [
                "run",
                "--token",
                ws.token,
                "--base-url",
                sim.base_url,
                "--destination",
                "duckdb",
                "--duckdb-path",
                str(db),
                "--profile",
                "internal",
                "--time-scale",
                "60",
                "--lookback-days",
                "36500",
                "--shards",
                "3",
                "--max-concurrency",
                "2",
                "--json",
                str(out),
                "--quiet",
            ],
            env,
        )
    assert proc.returncode == 0, proc.stderr
    assert "shard" in proc.stdout
    summary = json.loads(out.read_text())
    assert summary["n_shards"] == 3 and summary["ok"]
    assert_matches_truth(Target(duckdb_path=str(db)), ws.truth())
    assert ws.token not in out.read_text() + proc.stdout + proc.stderr


def test_flow_run_user_mistake_is_one_line_exit_2(tmp_path):
    """A real process (real stderr): one `error:` line, exit 2, no traceback, no token."""
    ws = Workspace.generate(size="tiny", seed=52)
    env = {
        "SOURCES__SLACK__ACCESS_TOKEN": "xoxb-unknown-token-123",
        "SLACK_INGEST_SECRET_BLOCK": "no-such-block",
    }
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        proc = _cli(
            ["run", "--base-url", sim.base_url, "--duckdb-path", str(tmp_path / "w.duckdb")], env
        )
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "rejected the token" in lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert "xoxb-unknown-token-123" not in proc.stderr + proc.stdout


def test_flow_run_refuses_token_flag_with_workers(tmp_path):
    result = runner.invoke(
        flow_app, ["run", "--token", "xoxb-1-2", "--shard-deployment", "slack_shard/slack-shard"]
    )
    assert result.exit_code == 2 and "Secret block" in result.output


def test_flow_serve_rejects_a_bad_cron():
    result = runner.invoke(flow_app, ["serve", "--cron", "every night please"])
    assert result.exit_code == 2 and "cron" in result.output


def test_flow_serve_registers_the_nightly_deployment(tmp_path):
    """`flow serve` (a real process) creates deployment slack_pipeline/<name> with the
    cron schedule and the flags as default parameters, then serves until stopped."""
    import signal
    import time

    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL

    env = {**os.environ, "PREFECT_API_URL": str(PREFECT_API_URL.value())}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flows.cli",
            "serve",
            "--name",
            "nightly-test",
            "--shards",
            "6",
            "--dataset",
            "raw_slack",
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deployment = None
        deadline = time.monotonic() + 60
        with get_client(sync_client=True) as client:
            while deployment is None and time.monotonic() < deadline:
                try:
                    deployment = client.read_deployment_by_name("slack_pipeline/nightly-test")
                except Exception:  # noqa: BLE001 - not registered yet
                    assert proc.poll() is None, "flow serve exited"
                    time.sleep(0.5)
        assert deployment is not None, "flow serve registered no deployment within 60 s"
        assert [s.schedule.cron for s in deployment.schedules] == ["0 0 * * *"]
        assert deployment.parameters["shards"] == 6
        assert deployment.parameters["dataset"] == "raw_slack"
        assert "token" not in json.dumps(deployment.parameters)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=20)


def _no_server_env(tmp_path: Path, api_url: str | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),  # no profile with a URL
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    if api_url is not None:
        env["PREFECT_API_URL"] = api_url
    return env


def _unreachable_api() -> str:
    import socket

    with socket.socket() as s:  # a loopback port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/api"


def _one_error_line(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    return lines[0]


def test_flow_serve_without_a_server_is_one_line_exit_2(tmp_path):
    """Without PREFECT_API_URL `flow serve` used to start and wait forever doing nothing."""
    proc = subprocess.run(
        [sys.executable, "-m", "flows.cli", "serve"],
        cwd=REPO,
        env=_no_server_env(tmp_path, None),
        capture_output=True,
        text=True,
        timeout=60,
    )
    line = _one_error_line(proc)
    assert line.startswith("error: flow serve needs a Prefect server")
    assert "prefect server start" in line and "PREFECT_API_URL=" in line


def test_flow_run_and_serve_with_an_unreachable_server_name_the_url(tmp_path):
    url = _unreachable_api()
    for args in (["run", "--base-url", "http://127.0.0.1:9"], ["serve"]):
        proc = subprocess.run(
            [sys.executable, "-m", "flows.cli", *args],
            cwd=REPO,
            env=_no_server_env(tmp_path, url),
            capture_output=True,
            text=True,
            timeout=60,
        )
        line = _one_error_line(proc)
        assert f"PREFECT_API_URL={url}" in line, line
        assert "RuntimeError" not in line
