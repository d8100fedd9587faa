"""The command line as a user meets it: real subprocesses against a loopback simulator.

Every user mistake: exit code 2, one line on stderr, no traceback, the token never shown.
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ingest.simulator import SimulatorThread, Workspace

SECRET = "xoxb-4242-cli-test-token-zzzz"


@pytest.fixture(scope="module")
def sim():
    ws = Workspace.generate(size="tiny", seed=31, token=SECRET)
    with SimulatorThread(ws, profile="unlimited") as s:
        s.add_token("xoxb-revoked-1", revoked=True)
        s.add_token("xoxb-noscope-1", scopes={"users:read", "team:read"})
        yield s


def cli(
    args: list[str],
    cwd: Path,
    token: str | None = SECRET,
    extra_env: dict | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__SLACK")}
    env["PYTHONUNBUFFERED"] = "1"
    if token is not None:
        env["SOURCES__SLACK__ACCESS_TOKEN"] = token
    env.update(extra_env or {})
    return subprocess.run(
        [sys.executable, "-m", "slack_ingest", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def assert_user_error(proc: subprocess.CompletedProcess, needle: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), lines
    assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    for secret in (SECRET, "xoxb-revoked-1", "xoxb-noscope-1"):
        assert secret not in proc.stderr + proc.stdout


def _closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.mark.parametrize(
    "case,args,token,needle",
    [
        ("missing token", [], None, "no Slack token: set [sources.slack] access_token"),
        ("malformed token", [], "not a token", "malformed"),
        ("invalid token", [], "xoxb-unknown-999", "rejected the token (invalid_auth)"),
        ("revoked token", [], "xoxb-revoked-1", "rejected the token (token_revoked)"),
        ("missing scope", [], "xoxb-noscope-1", "lacks a scope"),
        ("unknown channel", ["--channel", "no-such-channel"], SECRET, "unknown channel"),
        (
            "end before start",
            ["--start-date", "2024-02-01", "--end-date", "2024-01-01"],
            SECRET,
            "not after",
        ),
        ("bad date", ["--start-date", "last tuesday"], SECRET, "not a date"),
        ("unknown destination", ["--destination", "nosuchdb"], SECRET, "unknown destination"),
        ("bad profile", ["--profile", "turbo"], SECRET, "unknown profile"),
        (
            "unwritable duckdb path",
            ["--duckdb-path", "/nonexistent-dir/x.duckdb"],
            SECRET,
            "does not exist",
        ),
    ],
)
def test_bad_input_is_one_line_exit_2(sim, tmp_path, case, args, token, needle):
    proc = cli(
        ["run", "--base-url", sim.base_url, "--duckdb-path", str(tmp_path / "x.duckdb"), *args],
        tmp_path,
        token=token,
    )
    assert_user_error(proc, needle)
    # nothing half-written: a failed preflight creates no DuckDB file
    assert not (tmp_path / "x.duckdb").exists()


def test_unreachable_base_url(tmp_path):
    proc = cli(
        [
            "run",
            "--base-url",
            f"http://127.0.0.1:{_closed_port()}/api/",
            "--duckdb-path",
            str(tmp_path / "x.duckdb"),
        ],
        tmp_path,
    )
    assert_user_error(proc, "cannot reach")


def test_corrupt_config_toml(sim, tmp_path):
    (tmp_path / ".dlt").mkdir()
    (tmp_path / ".dlt" / "config.toml").write_text("[sources.slack\nprofile = = 'x'\n")
    proc = cli(["run", "--base-url", sim.base_url], tmp_path)
    assert_user_error(proc, "config")


def test_run_loads_and_writes_summary(sim, tmp_path):
    out = tmp_path / "summary.json"
    db = tmp_path / "ok.duckdb"
    proc = cli(
        [
            "run",
            "--base-url",
            sim.base_url,
            "--profile",
            "unlimited",
            "--duckdb-path",
            str(db),
            "--lookback-days",
            "3650",
            "--json",
            str(out),
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    assert SECRET not in proc.stdout + proc.stderr
    doc = json.loads(out.read_text())
    truth = sim.workspace.truth()
    assert doc["row_counts"]["messages"] >= len(truth.messages)
    assert "Load summary" in proc.stdout
    from ingest.load.run import Target
    from tests.integration.helpers import assert_matches_truth

    assert_matches_truth(Target(duckdb_path=str(db)), truth)
    assert SECRET.encode() not in db.read_bytes()


def test_demo_command(tmp_path):
    proc = cli(
        ["demo", "--size", "tiny", "--duckdb-path", str(tmp_path / "demo.duckdb"), "--quiet"],
        tmp_path,
        token=None,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "exactly matches" in proc.stdout
    # then the analytics models, and three lines of what they found (the models extra)
    if importlib.util.find_spec("dbt.adapters.duckdb") is not None:
        lines = proc.stdout.splitlines()
        built = next(i for i, line in enumerate(lines) if "analytics models built" in line)
        found = lines[built + 1 :]
        assert [line.split(":")[0].strip() for line in found] == [
            "Threads",
            "Busiest channel",
            "Unanswered questions",
        ], proc.stdout


def test_demo_without_dbt_says_why_and_still_succeeds(tmp_path):
    proc = cli(
        ["demo", "--size", "tiny", "--duckdb-path", str(tmp_path / "d.duckdb"), "--quiet"],
        tmp_path,
        token=None,
        extra_env={"PYTHONPATH": str(_hide_dbt(tmp_path))},
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "analytics models not built: dbt is not installed" in proc.stdout
    proc = cli(
        ["demo", "--size", "tiny", "--duckdb-path", str(tmp_path / "e.duckdb"), "--models", "yes"],
        tmp_path,
        token=None,
        extra_env={"PYTHONPATH": str(_hide_dbt(tmp_path))},
    )
    assert proc.returncode == 2 and "--models yes: dbt is not installed" in proc.stderr
    assert not (tmp_path / "e.duckdb").exists()


def _hide_dbt(tmp_path: Path) -> Path:
    """A folder that shadows the `dbt` package with one that cannot be imported."""
    shadow = tmp_path / "no-dbt"
    (shadow / "dbt").mkdir(parents=True, exist_ok=True)
    (shadow / "dbt" / "__init__.py").write_text("raise ImportError('dbt hidden by a test')\n")
    return shadow


def test_help_on_every_command(tmp_path):
    for args in (["--help"], ["run", "--help"], ["demo", "--help"], ["simulate", "--help"]):
        proc = cli(args, tmp_path)
        assert proc.returncode == 0 and "Usage" in proc.stdout, args


def test_simulate_command_then_run_against_it(tmp_path):
    port = _closed_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SOURCES__SLACK")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "slack_ingest",
            "simulate",
            "--port",
            str(port),
            "--size",
            "tiny",
            "--seed",
            "4",
            "--token",
            SECRET,
        ],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = server.stdout.readline()
        assert f"http://127.0.0.1:{port}/api/" in line
        proc = cli(
            [
                "run",
                "--base-url",
                f"http://127.0.0.1:{port}/api/",
                "--profile",
                "unlimited",
                "--duckdb-path",
                str(tmp_path / "w.duckdb"),
            ],
            tmp_path,
        )
        assert proc.returncode == 0, proc.stderr
        from ingest.load.run import Target
        from tests.integration.helpers import assert_matches_truth

        truth = Workspace.generate(size="tiny", seed=4, token=SECRET).truth()
        assert_matches_truth(Target(duckdb_path=str(tmp_path / "w.duckdb")), truth)
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_simulate_bad_input(tmp_path):
    proc = cli(["simulate", "--size", "huge"], tmp_path)
    assert_user_error(proc, "unknown workspace size")
    proc = cli(["simulate", "--size", "tiny", "--faults", "http500=2"], tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr


def test_plain_run_continues_from_the_flow_shards_cursors(tmp_path):
    """Shard pipelines (as the Prefect flow runs them) load the workspace; a plain `run`
    afterwards reads their committed cursors instead of reloading every history and thread."""
    from ingest.load.run import Target, run_load
    from ingest.source import LoadSettings
    from tests.integration.helpers import assert_matches_truth

    ws = Workspace.generate(size="small", seed=71, token=SECRET)
    db = tmp_path / "w.duckdb"
    target = Target(duckdb_path=str(db), pipelines_dir=str(tmp_path / "pipelines"))
    readable = sorted(ws.truth().readable_channel_ids)
    half = len(readable) // 2
    with SimulatorThread(ws, profile="unlimited") as s:
        settings = LoadSettings(
            base_url=s.base_url, profile="unlimited", lookback_days=7
        ).validate()
        run_load(SECRET, settings, target, channel_ids=readable[:half], shard="shard0of2")
        run_load(SECRET, settings, target, channel_ids=readable[half:], shard="shard1of2")
        fresh = s.stats()["methods"]
        s.reset_stats()
        proc = cli(
            [
                "run",
                "--base-url",
                s.base_url,
                "--profile",
                "unlimited",
                "--duckdb-path",
                str(db),
                "--lookback-days",
                "7",
                "--quiet",
            ],
            tmp_path,
        )
        again = s.stats()["methods"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert fresh["conversations.replies"]["requests"] > 0
    # continued from the shards' cursors: the 7-day lookback re-read, no thread fetched again
    assert "conversations.replies" not in again
    assert again["conversations.history"]["requests"] <= len(readable)
    # (one page per channel: what it read is the lookback, not the history again)
    assert again["conversations.history"]["items"] * 10 < fresh["conversations.history"]["items"]
    assert_matches_truth(Target(duckdb_path=str(db)), ws.truth())
