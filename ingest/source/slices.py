"""The messages resource's side of the fan-out: events in, dlt items out, a slice at a time.

A load is several dlt extracts (slices) over one fan-out: each slice ends at a channel
checkpoint after ~`slice_rows` rows or ~`slice_seconds`, and is loaded with the channel
states it consumed, so a killed run resumes near where it stopped.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any, assert_never

from ingest.source.arrow import message_to_row, messages_to_arrow
from ingest.source.events import (
    ChangesApplied,
    ChannelDone,
    ChannelSkipped,
    Checkpoint,
    End,
    Idle,
    MarkDeleted,
    Reconcile,
    Rows,
)
from ingest.source.fanout import HistoryFanout
from ingest.source.pii import KEEP, Pii, message_pii
from ingest.source.reactions import reactions_item
from ingest.source.settings import LoadSettings

#: How often (real seconds) the messages resource wakes up while the fan-out is quiet (Slack
#: retrying), to end a slice whose time is up at the checkpoints it already consumed.
IDLE_CHECK_S = 0.5


class MessageStream:
    """Holds one history fan-out across the dlt extracts (slices) of a load."""

    def __init__(self) -> None:
        self._fan: HistoryFanout | None = None
        # ranges re-read and deletions reported this slice: applied
        # (ingest/source/reconcile.py) after it is loaded
        self.reconciliations: list[Reconcile | MarkDeleted] = []
        # journal entries (`ChangesApplied`) handed over this slice: consumed after it loads
        self.applied: list[int] = []
        # Channels whose progress (a checkpoint or their end) the current slice carries.
        self.slice_channels: set[str] = set()
        # Channels whose history could not be read (id -> Slack's error code); their state
        # stays as it was. (LoadProgress.skipped shows them too.)
        self.skipped: dict[str, str] = {}
        # Why the fan-out stopped, if it failed: the slice that saw it ends there and is
        # loaded (rows and checkpoints consumed so far); then the load raises it.
        self.failure: BaseException | None = None

    def take_reconciliations(self) -> list[Reconcile | MarkDeleted]:
        out, self.reconciliations = self.reconciliations, []
        return out

    def take_applied(self) -> list[int]:
        out, self.applied = self.applied, []
        return out

    def fanout(self, factory: Callable[[], HistoryFanout]) -> HistoryFanout:
        if self._fan is None:
            self._fan = factory()
        return self._fan

    def prestart(self, fan: HistoryFanout) -> None:
        """Start fetching history now, while dlt still extracts the metadata resources."""
        if self._fan is None:
            self._fan = fan.start()

    @property
    def finished(self) -> bool:
        return self._fan is not None and self._fan.finished

    def close(self) -> None:
        if self._fan is not None:
            self._fan.close()


def new_rows(rows: list[dict[str, Any]], keys: set[tuple[str, str]]) -> list[dict[str, Any]]:
    """Rows whose (channel_id, ts) is not in `keys` yet (the first read wins), recorded."""
    fresh = []
    for row in rows:
        key = (row["channel_id"], row["ts"])
        if key not in keys:
            keys.add(key)
            fresh.append(row)
    return fresh


class _Batch:
    """Rows of one slice waiting to be yielded. Keys already in this slice (one load
    package) are dropped: a thread re-read after a deleted reply, say, reads some replies
    twice, and without repeats DuckDB merges the package without its de-duplication
    window, which holds every row in memory."""

    def __init__(self, settings: LoadSettings, pii: Pii = KEEP) -> None:
        self.settings = settings
        self.pii = pii
        self.rows: list[dict[str, Any]] = []
        self.keys: set[tuple[str, str]] = set()
        self.in_slice = 0

    def add(self, rows: list[dict[str, Any]]) -> bool:
        """Add rows not seen in this slice; True when a batch is due."""
        fresh = new_rows(rows, self.keys)
        if not self.pii.keeps:  # --pii: the authors' user_profile (pii.py)
            fresh = [message_pii(r, self.pii) for r in fresh]
        self.rows.extend(fresh)
        self.in_slice += len(fresh)
        return len(self.rows) >= self.settings.batch_rows

    def flush(self) -> list[Any]:
        """The batch's messages, then their reactions (`ingest/source/reactions.py`)."""
        rows, self.rows = self.rows, []
        fast = self.settings.fast_path
        messages = messages_to_arrow(rows) if fast else [message_to_row(r) for r in rows]
        return [messages, reactions_item(rows, fast=fast)]


def write_slice(
    fan: HistoryFanout,
    stream: MessageStream,
    channel_states: dict[str, Any],
    settings: LoadSettings,
    pii: Pii = KEEP,
) -> Iterator[Any]:
    """Yield the messages of one slice; record the states of the channels it carries in
    `channel_states` (the resource state dlt commits with the slice)."""
    batch = _Batch(settings, pii)
    slice_end = (
        time.monotonic() + settings.slice_seconds if settings.slice_seconds else float("inf")
    )
    stream.slice_channels = set()
    while True:
        try:
            item = fan.next_item(timeout=IDLE_CHECK_S)
        except Exception as exc:  # noqa: BLE001 - raised by run_load after this slice loads
            stream.failure = exc
            break
        match item:
            case End():
                break
            case Idle():
                # Slack is slow or retrying: commit the checkpoints consumed once time is up
                if stream.slice_channels and time.monotonic() >= slice_end:
                    break
            case Rows(rows=rows):
                if batch.add(rows):
                    yield from batch.flush()
            case Reconcile() | MarkDeleted():
                stream.reconciliations.append(item)
            case ChangesApplied(seqs=seqs):
                stream.applied.extend(seqs)
            case ChannelSkipped(channel_id=cid, reason=reason):
                stream.skipped[cid] = reason
            case Checkpoint(channel_id=cid, state=state) | ChannelDone(channel_id=cid, state=state):
                if batch.rows:
                    yield from batch.flush()
                channel_states[cid] = state
                stream.slice_channels.add(cid)
                if (
                    settings.slice_rows and batch.in_slice >= settings.slice_rows
                ) or time.monotonic() >= slice_end:
                    return  # end this slice at a checkpoint; the fan-out keeps going
            case _:
                assert_never(item)
    if batch.rows:
        yield from batch.flush()
