"""The change journal (SQLite) and what a run makes of its entries."""

from __future__ import annotations

import multiprocessing
import os
import signal

from ingest.load.journal import Journal, open_changes
from ingest.source import changes_from


def _payload(event_id: str, event: dict) -> dict:
    return {"type": "event_callback", "event_id": event_id, "event_time": 1, "event": event}


REPLY = {
    "type": "message",
    "channel": "C1",
    "ts": "1700000100.000001",
    "thread_ts": "1600000000.000100",
}
TOP = {"type": "message", "channel": "C1", "ts": "1700000200.000001"}
EDIT_TOP = {
    "type": "message",
    "subtype": "message_changed",
    "channel": "C2",
    "message": {"ts": "1500000000.000100", "text": "new"},
    "previous_message": {"ts": "1500000000.000100", "text": "old"},
}
EDIT_REPLY = {
    "type": "message",
    "subtype": "message_changed",
    "channel": "C2",
    "message": {"ts": "1500000001.000100", "thread_ts": "1400000000.000100"},
}
DEL_REPLY = {
    "type": "message",
    "subtype": "message_deleted",
    "channel": "C2",
    "deleted_ts": "1500000002.000100",
    "previous_message": {"ts": "1500000002.000100", "thread_ts": "1300000000.000100"},
}
DEL_TOP = {
    "type": "message",
    "subtype": "message_deleted",
    "channel": "C2",
    "deleted_ts": "1200000000.000100",
    "previous_message": {"ts": "1200000000.000100", "thread_ts": "1200000000.000100"},
}
RENAME = {"type": "channel_rename", "channel": {"id": "C3", "name": "renamed"}}


def test_entries_become_threads_to_reread_and_deletions():
    ch = changes_from(
        enumerate([REPLY, TOP, EDIT_TOP, EDIT_REPLY, DEL_REPLY, DEL_TOP, RENAME], start=1)
    )
    c1, c2 = ch.of("C1"), ch.of("C2")
    assert c1.refresh() == ["1600000000.000100"] and c1.seqs == [1, 2]
    # a top-level edit re-reads that message; a reply's edit or deletion its thread
    assert c2.refresh() == ["1300000000.000100", "1400000000.000100", "1500000000.000100"]
    assert c2.deleted == {"1500000002.000100", "1200000000.000100"}
    assert ch.metadata_seqs == [7]
    assert ch.summary() == {"entries": 7, "channels": 2, "threads": 4, "deleted": 2}


def test_a_deleted_root_is_marked_not_reread():
    reply_then_delete = [
        {**REPLY, "thread_ts": "1200000000.000100", "channel": "C2"},
        DEL_TOP,
    ]
    ch = changes_from(enumerate(reply_then_delete, start=1)).of("C2")
    assert ch.refresh() == [] and ch.deleted == {"1200000000.000100"}


def test_redeliveries_are_recorded_once_and_consumption_is_idempotent(tmp_path):
    path = tmp_path / "j.sqlite"
    with Journal(path) as j:
        assert j.record(_payload("Ev1", REPLY)) is True
        assert j.record(_payload("Ev1", REPLY), retry_attempt=1) is False  # redelivered
        assert j.record(_payload("Ev2", TOP)) is True
        seqs = [seq for seq, _ in j.pending()]
        assert len(seqs) == 2 and seqs == sorted(seqs)
        assert j.consume([seqs[0]]) == 1
        assert j.consume([seqs[0]]) == 0  # again: nothing changes
        assert [seq for seq, _ in j.pending()] == seqs[1:]
        assert j.stats().pending == 1 and j.stats().consumed == 1
    journal, changes = open_changes(path)
    assert journal is not None and changes is not None and changes.entries == 1
    journal.close()


def test_no_journal_file_means_nothing_to_apply_and_nothing_created(tmp_path):
    assert open_changes(tmp_path / "none.sqlite") == (None, None)
    assert not (tmp_path / "none.sqlite").exists()


def _append_forever(path: str, ready) -> None:
    j = Journal(path)
    i = 0
    while True:
        j.record(_payload(f"Ev{i}", {**TOP, "ts": f"1700000200.{i:06d}"}))
        i += 1
        if i == 50:
            ready.set()


def test_an_acknowledged_append_survives_sigkill(tmp_path):
    """record() returns only once the entry is committed: a writer killed mid-stream
    leaves every entry it returned from, and a readable file."""
    path = str(tmp_path / "j.sqlite")
    ctx = multiprocessing.get_context("fork")
    ready = ctx.Event()
    proc = ctx.Process(target=_append_forever, args=(path, ready))
    proc.start()
    assert ready.wait(30)
    os.kill(proc.pid, signal.SIGKILL)
    proc.join()
    with Journal(path) as j:
        pending = j.pending()
    assert len(pending) >= 50
    assert [seq for seq, _ in pending] == list(range(1, len(pending) + 1))


def test_an_edit_the_history_reread_covers_costs_no_extra_call():
    ch = changes_from(enumerate([EDIT_TOP, EDIT_REPLY], start=1)).of("C2")
    assert ch.refresh() == ["1400000000.000100", "1500000000.000100"]
    # the top-level edit lies in this run's lookback window: read with its history page
    assert ch.refresh(lambda ts: ts == "1500000000.000100") == ["1400000000.000100"]
