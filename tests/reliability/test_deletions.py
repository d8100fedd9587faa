"""Deletions: Slack has no tombstones, a deleted message just stops being returned. A load
that re-reads the lookback window (or a whole thread whose reply count dropped) marks the
rows that vanished: `is_deleted = true`, `deleted_at` set; the rows stay (never removed).
A deletion older than the lookback is not seen (documented in docs/RESILIENCE.md), until a
run with a lookback that covers it (top-level messages, parents and replies alike).
"""

from __future__ import annotations

import pytest

from ingest.load.run import Target
from ingest.load.verify import compare_with_truth
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import load, query
from tests.reliability.support import assert_exact

LOOKBACK = 30.0  # generated history ends 2026-01-01: outside; messages posted now: inside


def _rows(target: Target, cid: str) -> dict[str, tuple]:
    rows = query(
        target,
        "select ts, is_deleted, deleted_at, thread_ts from slack.messages "
        f"where channel_id = '{cid}'",
    )
    return {r[0]: r[1:] for r in rows}


def _old_plain_message(target: Target, cid: str) -> str:
    return query(
        target,
        "select ts from slack.messages where channel_id = "
        f"'{cid}' and not is_reply and coalesce(reply_count, 0) = 0 "
        "and subtype is null order by ts limit 1",
    )[0][0]


def _old_reply(target: Target) -> tuple[str, str]:
    return query(
        target,
        "select channel_id, ts from slack.messages where is_reply "
        "and subtype is null order by ts limit 1",
    )[0]


@pytest.mark.parametrize("fast_path", [True, False], ids=["fast", "relational"])
def test_deletions_inside_lookback_are_marked_outside_are_not(target, fast_path):
    ws = Workspace.generate(size="tiny", seed=51)
    truth0 = ws.truth()
    cid = sorted(c for c in truth0.readable_channel_ids if not ws.channel(c).is_archived)[0]
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=LOOKBACK, fast_path=fast_path)
        assert_exact(target, ws.truth())

        # recent activity, inside the lookback
        top1 = ws.post_message(cid, text="top-level, to be deleted")
        top2 = ws.post_message(cid, text="top-level, stays")
        parent = ws.post_message(cid, text="thread parent, stays")
        reply_del = ws.add_reply(cid, parent, text="reply, to be deleted")
        reply_keep = ws.add_reply(cid, parent, text="reply, stays")
        doomed = ws.post_message(cid, text="thread parent, deleted with its thread")
        doomed_replies = [ws.add_reply(cid, doomed, text=f"reply {i}") for i in range(3)]
        load(sim, target, lookback_days=LOOKBACK, fast_path=fast_path)
        assert_exact(target, ws.truth())

        # deletions: three inside the lookback, two outside
        old_top = _old_plain_message(target, cid)
        old_reply_cid, old_reply = _old_reply(target)
        for c, ts in (
            (cid, top1),
            (cid, reply_del),
            (cid, doomed),
            (cid, old_top),
            (old_reply_cid, old_reply),
        ):
            ws.delete_message(c, ts)
        result = load(sim, target, lookback_days=LOOKBACK, fast_path=fast_path)
        truth = ws.truth()

        rows = _rows(target, cid)
        inside = [top1, reply_del, doomed, *doomed_replies]
        for ts in inside:
            assert ts in rows, f"{ts} was removed instead of marked"
            is_deleted, deleted_at, _ = rows[ts]
            assert is_deleted is True and deleted_at is not None, (ts, rows[ts])
        for ts in (top2, parent, reply_keep):
            assert rows[ts][0] is False and rows[ts][1] is None, (ts, rows[ts])
        assert result.marked_deleted >= 3  # the parent's replies may be counted with it

        # outside the lookback (an old top-level message, a reply in an old thread): not
        # detected, the rows still look alive. That is the documented limit, and the only
        # difference from the truth.
        check = compare_with_truth(target, truth)
        unexpected = {(old_reply_cid, old_reply), (cid, old_top)}
        assert check["messages"]["missing"] == 0 and check["messages"]["duplicates"] == 0
        assert check["messages"]["unexpected"] == len(unexpected), check["messages"]
        alive = set(
            query(
                target,
                "select channel_id, ts from slack.messages where not coalesce(is_deleted, false)",
            )
        )
        assert alive - truth.messages == unexpected
        assert check["channels"]["ok"] and check["users"]["ok"] and check["members"]["ok"]

        # a run whose lookback covers them marks them too
        load(sim, target, lookback_days=36500, fast_path=fast_path)
    assert_exact(target, ws.truth())
    rows = _rows(target, cid)
    assert rows[old_top][0] is True and rows[old_top][1] is not None
    n_deleted = query(target, "select count(*) from slack.messages where is_deleted")[0][0]
    assert n_deleted == len(inside) + len(unexpected)


def test_wider_lookback_marks_replies_deleted_in_old_threads(target):
    """The thread was never tracked (its parent was older than the lookback when read):
    the wider run re-reads it whole and reconciles it."""
    ws = Workspace.generate(size="tiny", seed=51)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=LOOKBACK)
        cid, ts = _old_reply(target)
        ws.delete_message(cid, ts)
        load(sim, target, lookback_days=36500)
        row = query(
            target,
            "select is_deleted, deleted_at from slack.messages "
            f"where channel_id = '{cid}' and ts = '{ts}'",
        )
    assert row == [(True, row[0][1])] and row[0][1] is not None, row
    assert_exact(target, ws.truth())
