"""The token comes from a Prefect Secret block (or dlt secrets), never a parameter, and
never shows up in artifacts, flow-run parameters or logs. The failure hook notifies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prefect.blocks.abstract import NotificationBlock

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from ingest.slack import SlackAuthError
from tests.flows.helpers import run_flow
from tests.integration.helpers import assert_matches_truth

TOKEN = "xoxb-sim-flows-secret-check-7f3a9c"


class RecordingNotification(NotificationBlock):
    """Appends notifications to a file (stands in for Slack/email/PagerDuty blocks)."""

    _block_type_slug = "slack-ingest-test-recorder"
    path: str

    def notify(self, body: str, subject: str | None = None) -> None:
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"subject": subject, "body": body}) + "\n")


def _everything_stored(flow_run_ids: list[str]) -> str:
    """Artifacts, flow-run parameters and logs of these runs, as one text."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
        LogFilter,
        LogFilterFlowRunId,
    )
    from prefect.logging.handlers import APILogHandler

    APILogHandler().flush()
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=flow_run_ids))
        )
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=flow_run_ids))
        )
        logs = client.read_logs(
            log_filter=LogFilter(flow_run_id=LogFilterFlowRunId(any_=flow_run_ids))
        )
    parts = [json.dumps(a.data, default=str) + (a.description or "") for a in arts]
    parts += [json.dumps(r.parameters, default=str) + (r.state.message or "") for r in runs]
    parts += [lg.message for lg in logs]
    assert arts and runs and logs  # the scan looked at something
    return "\n".join(parts)


def test_token_from_secret_block_and_nowhere_else(tmp_path, monkeypatch):
    from prefect.blocks.system import Secret

    ws = Workspace.generate(size="tiny", seed=41, token=TOKEN)
    Secret(value=TOKEN).save("slack-ingest-test-token", overwrite=True)
    monkeypatch.setenv("SLACK_INGEST_SECRET_BLOCK", "slack-ingest-test-token")
    monkeypatch.delenv("SOURCES__SLACK__ACCESS_TOKEN", raising=False)
    target = Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        summary = run_flow(sim, target, shards=2)
    assert_matches_truth(target, ws.truth())
    stored = _everything_stored([summary["flow_run_id"]])
    assert TOKEN not in stored
    assert "xoxb-" not in json.dumps(summary, default=str)


def test_missing_block_falls_back_to_dlt_secrets(monkeypatch):
    from flows.secrets import get_token

    monkeypatch.setenv("SLACK_INGEST_SECRET_BLOCK", "no-such-block")
    monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", TOKEN)
    assert get_token() == TOKEN


def test_failure_hook_notifies_through_a_block(tmp_path, monkeypatch):
    sink = tmp_path / "notifications.jsonl"
    RecordingNotification(path=str(sink)).save("ops", overwrite=True)
    monkeypatch.setenv("SLACK_INGEST_NOTIFY_BLOCK", "slack-ingest-test-recorder/ops")
    monkeypatch.setenv("SLACK_INGEST_SECRET_BLOCK", "no-such-block")
    monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", "xoxb-revoked-token-for-hook-test")
    ws = Workspace.generate(size="tiny", seed=42)
    target = Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    with (
        SimulatorThread(ws, profile="internal", time_scale=60.0) as sim,
        pytest.raises(SlackAuthError),
    ):
        run_flow(sim, target, shards=2)
    lines = [json.loads(x) for x in Path(sink).read_text().splitlines()]
    assert len(lines) == 1
    assert "rejected the token" in lines[0]["body"]
    assert "xoxb-revoked" not in lines[0]["body"]
