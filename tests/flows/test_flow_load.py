"""The flow on Prefect's test server: the simulator's `small` workspace, 4 shards into
DuckDB, exactly; the shard concurrency measured; artifacts; no secrets anywhere."""

from __future__ import annotations

import pytest

from ingest.load.run import Target
from ingest.load.verify import compare_with_truth
from ingest.simulator import SimulatorThread, Workspace
from tests.flows.helpers import max_overlap, run_flow, shard_intervals

LIMIT = 2


@pytest.fixture(scope="module")
def loaded(tmp_path_factory):
    """One flow run: small workspace, 4 shards, at most 2 history tasks at once."""
    tmp = tmp_path_factory.mktemp("flow-small")
    ws = Workspace.generate(size="small", seed=21)
    target = Target(duckdb_path=str(tmp / "warehouse.duckdb"), pipelines_dir=str(tmp / "pipelines"))
    mp = pytest.MonkeyPatch()
    mp.setenv("SOURCES__SLACK__ACCESS_TOKEN", ws.token)
    mp.setenv("SLACK_INGEST_SECRET_BLOCK", "no-such-block-in-tests")
    try:
        with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
            summary = run_flow(sim, target, shards=4, max_concurrency=LIMIT)
            stats = sim.stats()
    finally:
        mp.undo()
    return ws, target, summary, stats


def test_four_shards_match_truth_exactly(loaded):
    ws, target, summary, _ = loaded
    check = compare_with_truth(target, ws.truth())
    assert check["ok"], {k: v for k, v in check.items() if k != "ok" and not v["ok"]}
    assert check["messages"]["loaded"] == len(ws.truth().messages)
    assert summary["ok"] and summary["mode"] == "in-process"
    assert len(summary["shards"]) == 4
    # every readable channel in exactly one shard, by stable hash
    from flows.sharding import shard_of

    owned = [c for s in summary["shards"] for c in s["channels"]]
    assert sorted(owned) == sorted(ws.truth().readable_channel_ids)
    for s in summary["shards"]:
        assert all(shard_of(c, 4) == s["shard_index"] for c in s["channels"])
        assert s["pipeline_name"] == target.pipeline_name(f"shard{s['shard_index']}of4")


def test_shard_tasks_never_exceed_the_tag_limit(loaded):
    _, _, summary, _ = loaded
    overlap = max_overlap(shard_intervals(summary))
    assert 1 <= overlap <= LIMIT, f"{overlap} shard tasks ran at once, limit {LIMIT}"


def test_in_process_shard_tasks_take_no_server_slot(loaded):
    """The in-process run holds the whole budget and the writer role: its shard tasks are
    bounded in the flow, not by a tag limit whose slots each task would request from the
    (SQLite) server; the tag is for shard runs in other processes."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    _, _, summary, _ = loaded
    with get_client(sync_client=True) as client:
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[summary["flow_run_id"]]))
        )
    history = [t for t in task_runs if t.name.startswith("history shard")]
    assert len(history) == 4
    assert all("slack-history" not in t.tags for t in history), [t.tags for t in history]


def test_summary_reports_channels_requests_and_skips(loaded):
    ws, _, summary, stats = loaded
    truth = ws.truth()
    unreadable = truth.channel_ids - truth.readable_channel_ids
    assert set(summary["skipped"]) >= unreadable
    assert all(summary["skipped"][c] for c in unreadable)
    rows = {r["channel"]: r for r in summary["channels"]}
    assert set(rows) >= truth.readable_channel_ids
    per_channel = sum(r["messages"] for c, r in rows.items() if c in truth.readable_channel_ids)
    assert per_channel == len(truth.messages)
    assert sum(r["replies"] for r in rows.values()) == truth.reply_count()
    hist = summary["requests"]["conversations.history"]["requests"]
    assert hist == stats["methods"]["conversations.history"]["requests"]


def test_artifacts_and_task_run_names(loaded):
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterId,
    )

    _, _, summary, _ = loaded
    run_id = summary["flow_run_id"]
    with get_client(sync_client=True) as client:
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[run_id]))
        )
        task_runs = client.read_task_runs(
            flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[run_id]))
        )
    kinds = {a.type for a in arts}
    assert {"markdown", "table", "progress"} <= kinds
    progress = [a for a in arts if a.type == "progress"]
    assert float(progress[0].data) == 100.0
    md = next(a for a in arts if a.type == "markdown").data
    assert "## Shards" in md and "## Channels not read" in md and "429s" in md
    names = {t.name for t in task_runs}
    assert {f"history shard {i}/4" for i in range(1, 5)} <= names
    assert {"get_resources", "load_channels", "get_users"} <= {
        t.task_key.rsplit("-", 1)[0] for t in task_runs
    }
