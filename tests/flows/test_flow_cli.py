"""`slack-ingest flow run|serve` (the typer app the main CLI mounts as `flow`)."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from flows.cli import flow_app
from ingest.pipeline import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import assert_matches_truth

runner = CliRunner()


def test_flow_run_loads_with_the_run_flags_plus_shards(tmp_path, token_env):
    ws = Workspace.generate(size="tiny", seed=51)
    token_env("xoxb-not-this-one")  # --token wins over dlt secrets
    db = tmp_path / "warehouse.duckdb"
    out = tmp_path / "summary.json"
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        result = runner.invoke(flow_app, [
            "run", "--token", ws.token, "--base-url", sim.base_url, "--destination", "duckdb",
            "--duckdb-path", str(db), "--profile", "internal", "--time-scale", "60",
            "--lookback-days", "36500", "--shards", "3", "--max-concurrency", "2",
            "--json", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert "shard" in result.output
    summary = json.loads(out.read_text())
    assert summary["n_shards"] == 3 and summary["ok"]
    assert_matches_truth(Target(duckdb_path=str(db)), ws.truth())
    assert ws.token not in out.read_text()


def test_flow_run_user_mistake_is_one_line_exit_2(tmp_path, token_env):
    token_env("xoxb-unknown-token")
    ws = Workspace.generate(size="tiny", seed=52)
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        result = runner.invoke(flow_app, [
            "run", "--base-url", sim.base_url, "--duckdb-path", str(tmp_path / "w.duckdb"),
            "--quiet"])
    assert result.exit_code == 2
    lines = [ln for ln in result.output.splitlines() if ln.startswith("error:")]
    assert len(lines) == 1 and "rejected the token" in lines[0]
    assert "Traceback" not in result.output


def test_flow_run_refuses_token_flag_with_workers(tmp_path):
    result = runner.invoke(flow_app, ["run", "--token", "xoxb-1-2", "--shard-deployment",
                                      "slack_shard/slack-shard"])
    assert result.exit_code == 2 and "Secret block" in result.output


def test_flow_serve_rejects_a_bad_cron():
    result = runner.invoke(flow_app, ["serve", "--cron", "every night please"])
    assert result.exit_code == 2 and "cron" in result.output
