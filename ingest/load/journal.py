"""The change journal: Slack events recorded by `slack-ingest listen`, consumed by runs.

A SQLite file beside the pipeline (`Target.journal_file()`), not a table in the
destination: the listener appends while a load holds DuckDB's single writer, and SQLite
in WAL mode lets one process append while another reads and marks entries consumed.
Every append is committed (`synchronous=FULL`) before the listener acknowledges the
envelope, so an acknowledged event survives SIGKILL. `event_id` is unique: an envelope
Slack redelivers (`retry_attempt` > 0) or that arrives on two connections is recorded
once.

A run reads the entries not consumed yet (a snapshot: entries arriving meanwhile wait
for the next run), applies them, and marks them consumed only after the slice that
applied them is loaded (deletion marks included). A run that dies in between applies
them again next time; every application is idempotent (re-reading a thread, marking a
row deleted), so the effect is exactly once. Consumed entries are kept `KEEP_DAYS` for
inspection, then pruned.

The journal holds message text (the events' payloads), like the warehouse; never a token.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ingest.source import Changes, ConfigError, changes_from

#: Consumed entries are pruned after this many days.
KEEP_DAYS = 7.0
_SCHEMA = """
create table if not exists events (
    seq integer primary key autoincrement,
    event_id text not null unique,
    received_at real not null,
    event_time integer,
    type text not null,
    channel_id text,
    retry_attempt integer not null default 0,
    event text not null,
    consumed_at real
);
create index if not exists events_pending on events (consumed_at, seq);
"""


@dataclass(frozen=True)
class JournalStats:
    pending: int
    consumed: int
    last_received_at: float | None
    duplicates: int


class Journal:
    """One journal file. Open one per thread (sqlite3 connections are not shared)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path).expanduser()
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, timeout=30.0, isolation_level=None)
            self._db.execute("pragma journal_mode=wal")
            self._db.execute("pragma synchronous=full")
            self._db.executescript(_SCHEMA)
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(f"cannot open the change journal {self.path}: {exc}") from None
        self.duplicates = 0

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("begin immediate")
        try:
            yield self._db
        except BaseException:
            self._db.execute("rollback")
            raise
        self._db.execute("commit")

    # -- the listener's side ---------------------------------------------------------------
    def record(self, payload: dict[str, Any], retry_attempt: int = 0) -> bool:
        """Append one `event_callback` payload, durably. False if its `event_id` was
        recorded before (a redelivery): nothing changes."""
        event = payload.get("event") or {}
        event_id = str(payload.get("event_id") or "")
        if not event_id:
            raise ValueError("an event_callback without event_id")
        with self._tx() as db:
            cur = db.execute(
                "insert or ignore into events (event_id, received_at, event_time, type, "
                "channel_id, retry_attempt, event) values (?, ?, ?, ?, ?, ?, ?)",
                (
                    event_id,
                    time.time(),
                    payload.get("event_time"),
                    str(event.get("subtype") or event.get("type") or ""),
                    _channel_of(event),
                    int(retry_attempt or 0),
                    json.dumps(event, separators=(",", ":")),
                ),
            )
            fresh = cur.rowcount == 1
        if not fresh:
            self.duplicates += 1
        return fresh

    # -- the run's side --------------------------------------------------------------------
    def pending(self) -> list[tuple[int, dict[str, Any]]]:
        """(seq, event) of every entry not consumed yet, in order."""
        rows = self._db.execute(
            "select seq, event from events where consumed_at is null order by seq"
        ).fetchall()
        return [(int(seq), json.loads(event)) for seq, event in rows]

    def changes(self) -> Changes:
        return changes_from(self.pending())

    def consume(self, seqs: Iterable[int]) -> int:
        """Mark entries consumed (idempotent); returns how many were not consumed yet.
        Prunes entries consumed long ago."""
        seqs = sorted(set(seqs))
        now = time.time()
        newly = 0
        with self._tx() as db:
            for i in range(0, len(seqs), 500):
                chunk = seqs[i : i + 500]
                marks = ",".join("?" * len(chunk))
                cur = db.execute(
                    f"update events set consumed_at = ? where consumed_at is null "
                    f"and seq in ({marks})",
                    (now, *chunk),
                )
                newly += cur.rowcount
            db.execute(
                "delete from events where consumed_at is not null and consumed_at < ?",
                (now - KEEP_DAYS * 86400.0,),
            )
        return newly

    def stats(self) -> JournalStats:
        pending, consumed, last = self._db.execute(
            "select sum(consumed_at is null), sum(consumed_at is not null), max(received_at) "
            "from events"
        ).fetchone()
        return JournalStats(int(pending or 0), int(consumed or 0), last, self.duplicates)


def _channel_of(event: dict[str, Any]) -> str | None:
    ch = event.get("channel")
    if isinstance(ch, dict):
        return str(ch.get("id") or "") or None
    return str(ch) if ch else None


def open_changes(path: str | Path | None) -> tuple[Journal | None, Changes | None]:
    """The journal at `path` and its pending changes, if a listener ever wrote one there
    (no file: no listener, nothing to apply, and nothing is created)."""
    if path is None or not Path(path).expanduser().exists():
        return None, None
    journal = Journal(path)
    return journal, journal.changes()
