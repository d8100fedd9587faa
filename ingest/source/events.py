"""What the history fan-out hands its consumer, one frozen dataclass per kind.

Consumers dispatch with `match` ending in `assert_never`, so a kind added here fails type
checking in every consumer that does not handle it (a kind cannot be dropped silently).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class Rows:
    """Messages read (history or thread replies), each with `channel_id` added."""

    rows: list[dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A channel's state as of rows handed over so far (committed with the slice)."""

    channel_id: str
    state: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ChannelDone:
    """A channel was read completely: its next state and what this run read of it."""

    channel_id: str
    state: dict[str, Any]
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class ChannelSkipped:
    """A channel's history could not be read (e.g. `channel_not_found`); state unchanged."""

    channel_id: str
    reason: str


@dataclass(frozen=True, slots=True)
class Reconcile:
    """What exists now in a range loaded before, to mark the rows that vanished.

    A history window (`lo` < ts <= `hi`, `thread_ts` None) or a whole thread (`thread_ts`
    set, `lo`/`hi` None); `existing` holds the ts Slack returned for it."""

    channel_id: str
    lo: str | None
    hi: str | None
    thread_ts: str | None
    existing: list[str]


@dataclass(frozen=True, slots=True)
class MarkDeleted:
    """Messages Slack reported deleted (a `message_deleted` event, or a thread re-read for
    a captured change answering `thread_not_found`): marked after the load, a thread
    parent with its replies."""

    channel_id: str
    ts: list[str]


@dataclass(frozen=True, slots=True)
class ChangesApplied:
    """A channel's captured changes (journal entries `seqs`) were handed over: once the
    slice carrying this is loaded, the entries are consumed."""

    channel_id: str
    seqs: list[int]


@dataclass(frozen=True, slots=True)
class Failed:
    """The fan-out stopped on this error (raised by the consumer's `next_item`)."""

    error: BaseException


@dataclass(frozen=True, slots=True)
class End:
    """Everything was fetched."""


@dataclass(frozen=True, slots=True)
class Idle:
    """Nothing arrived within the consumer's timeout (answered, never queued)."""


#: What was fetched: every kind but the end of the stream.
Fetched = (
    Rows | Checkpoint | ChannelDone | ChannelSkipped | Reconcile | MarkDeleted | ChangesApplied
)
#: Everything the producer queues.
Event = Fetched | Failed | End
#: What `HistoryFanout.next_item` returns (a `Failed` is raised instead).
Received = Fetched | End | Idle

__all__ = [
    "ChangesApplied",
    "ChannelDone",
    "ChannelSkipped",
    "Checkpoint",
    "End",
    "Event",
    "Failed",
    "Fetched",
    "Idle",
    "MarkDeleted",
    "Received",
    "Reconcile",
    "Rows",
]
