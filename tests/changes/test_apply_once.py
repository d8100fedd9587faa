"""Captured changes are applied exactly once across crashes: entries are consumed only
after the slice that applied them is loaded, and applying them again is harmless."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from ingest.load.journal import Journal
from ingest.simulator import SimulatorThread, Workspace
from tests.changes.support import assert_forever
from tests.changes.test_exact_forever import run, targeted_changes


def _record_events(ws: Workspace, journal: Journal):
    """The workspace's events into the journal, as the listener records them."""
    ids = itertools.count()
    return ws.subscribe(lambda e: journal.record({"event_id": f"Ev{next(ids)}", "event": e}))


def test_a_run_that_dies_before_consuming_applies_again_with_one_effect(
    target, tmp_path, monkeypatch
):
    ws = Workspace.generate(size="tiny", seed=91)
    target = replace(target, journal_path=str(tmp_path / "j.sqlite"))
    rng = random.Random(91)
    with SimulatorThread(ws, profile="unlimited") as sim:
        cid = sorted(ws.truth().readable_channel_ids)[0]
        young = (cid, ws.post_message(cid, text="thirty days ago", age_s=30 * 86400.0))
        ws.add_reply(cid, young[1], text="first reply")
        run(sim, target)
        with Journal(target.journal_file()) as journal:
            unsubscribe = _record_events(ws, journal)
            targeted_changes(ws, young, rng)
            ws.mutate(rng_seed=5, n=25, any_age=True)
            unsubscribe()
            pending = journal.stats().pending
        assert pending > 0

        # the run loads everything, then dies where it would mark the entries consumed
        def crash(self, seqs):
            raise RuntimeError("killed before consuming")

        with monkeypatch.context() as m:
            m.setattr(Journal, "consume", crash)
            with pytest.raises(RuntimeError, match="killed before consuming"):
                run(sim, target)
        with Journal(target.journal_file()) as journal:
            assert journal.stats().pending == pending  # nothing consumed
        result = run(sim, target)  # applies them again
        assert result.changes["consumed"] == pending
        assert_forever(target, ws)  # one effect: exact, no duplicate rows
        with Journal(target.journal_file()) as journal:
            assert journal.stats().pending == 0
        assert run(sim, target).changes["consumed"] == 0
        assert_forever(target, ws)


def test_a_thread_reread_that_gives_up_keeps_its_entries_for_the_next_run(
    target, tmp_path, monkeypatch
):
    """A captured change whose re-read runs out of retries fails the run with that error
    (exit 1 in the CLI), not an exception group; its channel's entries stay pending, the
    other channel's are consumed, and the next run applies the rest: exact."""
    from ingest.slack import SlackRetryExhaustedError
    from ingest.source import channel as channel_module
    from tests.changes.test_exact_forever import _old_parent

    ws = Workspace.generate(size="tiny", seed=92)
    target = replace(target, journal_path=str(tmp_path / "j.sqlite"))
    with SimulatorThread(ws, profile="unlimited") as sim:
        run(sim, target)
        cids = [c for c in sorted(ws.truth().readable_channel_ids) if _old_parent(ws, c, 400)]
        cids = cids[:2]
        with Journal(target.journal_file()) as journal:
            unsubscribe = _record_events(ws, journal)
            for cid in cids:
                ws.add_reply(cid, _old_parent(ws, cid, 400), text="a reply years later")
            unsubscribe()

        real = channel_module.refresh_thread

        async def gives_up(job, root):
            if job.channel_id == cids[0]:
                raise SlackRetryExhaustedError("conversations.replies", "http_503")
            return await real(job, root)

        with monkeypatch.context() as m:
            m.setattr(channel_module, "refresh_thread", gives_up)
            with pytest.raises(SlackRetryExhaustedError):
                run(sim, target)
        with Journal(target.journal_file()) as journal:
            left = {e.get("channel") for _, e in journal.pending()}
        assert left == {cids[0]}
        run(sim, target)
        assert_forever(target, ws)
        with Journal(target.journal_file()) as journal:
            assert journal.stats().pending == 0
