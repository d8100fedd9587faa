"""Reruns: a changed shard count reloads nothing (states are seeded from every pipeline of
the dataset); mutations and a new channel afterwards are loaded exactly."""

from __future__ import annotations

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.flows.helpers import run_flow
from tests.integration.helpers import assert_matches_truth


def _target(tmp_path) -> Target:
    return Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )


def test_changing_the_shard_count_reloads_nothing(tmp_path, token_env):
    ws = Workspace.generate(size="small", seed=22)
    token_env(ws.token)
    target = _target(tmp_path)
    readable = ws.truth().readable_channel_ids
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        first = run_flow(sim, target, shards=4, max_concurrency=4, lookback_days=7)
        assert_matches_truth(target, ws.truth())
        fresh = sim.stats()["methods"]
        assert first["replies"] > 0

        sim.reset_stats()
        second = run_flow(sim, target, shards=3, max_concurrency=3, lookback_days=7)
        assert_matches_truth(target, ws.truth())
        again = sim.stats()["methods"]
    # every channel moved to a new pipeline (shard<i>of3) and still continued from its
    # cursor: nothing older than the 7-day lookback was read again, and no thread
    assert {s["pipeline_name"].rsplit("_", 1)[1] for s in second["shards"]} == {
        f"shard{i}of3" for i in range(3)
    }
    assert second["replies"] == 0 and second["messages"] == 0
    assert "conversations.replies" not in again
    assert again["conversations.history"]["requests"] <= len(readable)
    # (one page per channel: what it read is the lookback, not the history again)
    assert again["conversations.history"]["items"] * 10 < fresh["conversations.history"]["items"]


def test_rerun_after_mutations_and_a_new_channel_is_exact(tmp_path, token_env):
    ws = Workspace.generate(size="small", seed=23)
    token_env(ws.token)
    target = _target(tmp_path)
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        run_flow(sim, target, shards=4, max_concurrency=4)
        assert_matches_truth(target, ws.truth())
        # new replies to old threads, edits, deletes, posts; a new channel
        new_cid = ws.add_channel("flows-new-channel", is_member=True)
        new_ts = ws.post_message(new_cid, text="hello from a new channel")
        ops = ws.mutate(rng_seed=7, n=40)
        again = run_flow(sim, target, shards=5, max_concurrency=3)
    check = assert_matches_truth(target, ws.truth())
    assert ops["delete_message"] > 0 and ops["add_reply"] > 0 and ops["edit_message"] > 0
    assert (new_cid, new_ts) in ws.truth().messages
    assert any(new_cid in s["channels"] for s in again["shards"])
    assert check["messages"]["loaded"] == len(ws.truth().messages)
