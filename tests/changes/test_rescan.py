"""`run --rescan`: changes older than the lookback (replies to old threads, edits, deletes)
reach the warehouse through a full history re-read that refreshes only the threads whose
replies moved, with 999-message history pages."""

from __future__ import annotations

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import load, query
from tests.reliability.support import assert_exact

DAY = 86400.0


def _old(ws: Workspace, target: Target, cid: str) -> dict[str, str]:
    """An old thread parent, an old reply, and two old plain messages of `cid`."""
    parent, reply = query(
        target,
        "select thread_ts, ts from slack.messages where is_reply and subtype is null "
        f"and channel_id = '{cid}' order by ts limit 1",
    )[0]
    plain = [
        r[0]
        for r in query(
            target,
            f"select ts from slack.messages where channel_id = '{cid}' and not is_reply "
            "and coalesce(reply_count, 0) = 0 and subtype is null order by ts limit 2",
        )
    ]
    return {"parent": parent, "reply": reply, "edit": plain[0], "delete": plain[1]}


def _text(target: Target, cid: str, ts: str) -> tuple[str, bool]:
    return query(
        target,
        f"select text, coalesce(is_deleted, false) from slack.messages "
        f"where channel_id = '{cid}' and ts = '{ts}'",
    )[0]


def test_rescan_catches_what_the_lookback_misses(target):
    ws = Workspace.generate(size="tiny", seed=7)
    with SimulatorThread(ws, profile="unlimited") as sim:
        cid0 = sorted(ws.truth().readable_channel_ids)[0]
        for i in range(250):  # a channel over one normal page (200)
            ws.post_message(cid0, text=f"filler {i}")
        load(sim, target, lookback_days=7)
        assert_exact(target, ws.truth())
        cid = max(
            ws.truth().readable_channel_ids,
            key=lambda c: query(
                target, f"select count(*) from slack.messages where channel_id = '{c}'"
            )[0][0],
        )
        old = _old(ws, target, cid)
        new_reply = ws.add_reply(cid, old["parent"], text="a reply to a thread years old")
        ws.edit_message(cid, old["edit"], "edited years later")
        ws.edit_message(cid, old["reply"], "an old reply, edited")  # only the listener sees
        ws.delete_message(cid, old["delete"])
        sibling = query(
            target,
            f"select ts from slack.messages where channel_id = '{cid}' and thread_ts = "
            f"'{old['parent']}' and ts <> thread_ts and ts <> '{old['reply']}' limit 1",
        )
        if sibling:
            ws.delete_message(cid, sibling[0][0])

        # a nightly run with a 7-day lookback sees none of it
        load(sim, target, lookback_days=7)
        assert not query(target, f"select 1 from slack.messages where ts = '{new_reply}'")
        assert _text(target, cid, old["edit"])[0] != "edited years later"
        assert _text(target, cid, old["delete"])[1] is False

        sim.reset_stats()
        result = load(sim, target, lookback_days=7, rescan=True)
        assert_exact(target, ws.truth())  # keys: the new reply, both deletions marked
        assert _text(target, cid, old["edit"]) == ("edited years later", False)
        assert _text(target, cid, old["delete"])[1] is True
        if sibling:
            assert _text(target, cid, sibling[0][0])[1] is True
        assert result.marked_deleted >= 1
        # only the thread whose replies moved was re-read
        methods = sim.stats()["methods"]
        assert methods["conversations.replies"]["requests"] == 1, methods
        # pages of 999: one history page per channel (tiny channels hold < 999 messages,
        # the biggest more than the 200 of a normal page)
        biggest = max(
            n
            for (n,) in query(
                target, "select count(*) from slack.messages where not is_reply group by channel_id"
            )
        )
        assert biggest > 200
        assert methods["conversations.history"]["requests"] == len(ws.truth().readable_channel_ids)


def test_rescan_of_an_unchanged_workspace_reads_no_thread(target):
    ws = Workspace.generate(size="tiny", seed=8)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=7)
        sim.reset_stats()
        load(sim, target, lookback_days=7, rescan=True)
        methods = sim.stats()["methods"]
        assert "conversations.replies" not in methods or (
            methods["conversations.replies"]["requests"] == 0
        )
        assert_exact(target, ws.truth())


def test_rescan_pages_that_time_out_step_down_and_stay_exact(target, caplog):
    """999-message pages that time out (Slack's request_timeout, a gateway's 504) are asked
    again with a smaller limit; the rescan still ends exact."""
    import logging

    ws = Workspace.generate(size="tiny", seed=9)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=7)
        ws.mutate(rng_seed=4, n=30, any_age=True)
        sim.set_faults("request_timeout=0.15,http504=0.1,seed=3")
        with caplog.at_level(logging.INFO, logger="ingest.slack"):
            load(sim, target, lookback_days=7, rescan=True, max_retry_wait_s=60.0)
        sim.set_faults(None)
        truth = ws.truth()
        assert_exact(target, truth)
    steps = [r.getMessage() for r in caplog.records if "retrying with limit" in r.getMessage()]
    assert any("limit 999; retrying with limit 499" in m for m in steps), steps


def test_a_thread_whose_replies_were_all_deleted_is_marked_without_a_call(target):
    ws = Workspace.generate(size="tiny", seed=10)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target, lookback_days=7)
        cid, parent = query(
            target,
            "select channel_id, thread_ts from slack.messages where is_reply "
            "and subtype is null group by 1, 2 order by count(*) limit 1",
        )[0]
        replies = [
            r[0]
            for r in query(
                target,
                f"select ts from slack.messages where channel_id = '{cid}' "
                f"and thread_ts = '{parent}' and ts <> thread_ts",
            )
        ]
        for ts in replies:
            ws.delete_message(cid, ts)
        sim.reset_stats()
        load(sim, target, lookback_days=7, rescan=True)
        methods = sim.stats()["methods"]
        assert methods.get("conversations.replies", {}).get("requests", 0) == 0
        assert_exact(target, ws.truth())
        marked = query(
            target,
            f"select count(*) from slack.messages where channel_id = '{cid}' "
            f"and thread_ts = '{parent}' and ts <> thread_ts and is_deleted",
        )[0][0]
        assert marked == len(replies)
