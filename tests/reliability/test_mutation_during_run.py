"""Mutation during a run: messages posted, replies added (to new and to old threads), edits
and deletes, new channels, all while a load is running. That run may miss what changed
behind its back; the next run within the lookback must make the destination equal to
`truth()` again (and a third run changes nothing)."""

from __future__ import annotations

import threading
import time

from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import load, query
from tests.reliability.support import assert_exact, requests_total, wait_for


def test_mutations_while_loading_then_next_run_is_exact(target):
    ws = Workspace.generate(size="small", seed=61)
    readable = sorted(c for c in ws.truth().readable_channel_ids if not ws.channel(c).is_archived)
    # latency stretches the run so that the mutations land while it reads
    with SimulatorThread(ws, profile="unlimited", latency_ms=8) as sim:
        box: dict = {}

        def first_run() -> None:
            try:
                box["result"] = load(sim, target)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the test thread
                box["error"] = exc

        runner = threading.Thread(target=first_run, name="first-run")
        runner.start()
        assert wait_for(lambda: requests_total(sim) >= 30 or not runner.is_alive(), 60)
        rounds_during = 0
        posted: list[tuple[str, str]] = []
        i = 0
        while runner.is_alive():
            cid = readable[i % len(readable)]
            top = ws.post_message(cid, text=f"posted during the run {i}")
            parent = ws.post_message(cid, text=f"new thread {i}")
            posted += [
                (cid, top),
                (cid, parent),
                (cid, ws.add_reply(cid, parent, text="reply to a new thread")),
            ]
            if i % 3 == 2:
                ws.delete_message(cid, parent)  # takes its reply with it
            ws.mutate(rng_seed=1000 + i, n=6)  # old threads, edits, deletes, channels
            if runner.is_alive():
                rounds_during += 1
            i += 1
            time.sleep(0.05)
        runner.join()
        if "error" in box:
            raise box["error"]
        assert rounds_during >= 3, "the mutations did not overlap the run"

        second = load(sim, target)
        truth = ws.truth()
        assert_exact(target, truth)
        alive = set(
            query(
                target,
                "select channel_id, ts from slack.messages where not coalesce(is_deleted, false)",
            )
        )
        assert {k for k in posted if k in truth.messages} <= alive

        third = load(sim, target)
    assert_exact(target, ws.truth())
    assert third.progress["replies"] == 0, "nothing changed: no thread is fetched again"
    print(
        f"mutation rounds during the run: {rounds_during}; second run marked "
        f"{second.marked_deleted} deleted rows"
    )
