"""Typed fan-out events: every kind reaches the slice writer, none is dropped silently."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from ingest.source import LoadSettings
from ingest.source.events import (
    ChannelDone,
    ChannelSkipped,
    Checkpoint,
    End,
    Idle,
    Reconcile,
    Rows,
)
from ingest.source.slices import MessageStream, write_slice


class _Fan:
    def __init__(self, items: list[Any]) -> None:
        self.items = items

    def next_item(self, timeout: float | None = None) -> Any:
        return self.items.pop(0)


def test_events_are_frozen():
    ev = ChannelSkipped("C1", "channel_not_found")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ev.reason = "x"  # type: ignore[misc]


def test_the_slice_writer_handles_every_kind():
    settings = LoadSettings(fast_path=False).validate()
    rows = [{"channel_id": "C1", "ts": "1.000001", "text": "a"}]
    fan = _Fan(
        [
            Idle(),
            Rows(rows),
            Reconcile("C1", "0", "2.000000", None, ["1.000001"]),
            ChannelSkipped("C2", "channel_not_found"),
            Checkpoint("C1", {"cursor": "1.000001"}),
            ChannelDone("C1", {"cursor": "1.000001"}, {"messages": 1}),
            End(),
        ]
    )
    stream = MessageStream()
    states: dict[str, Any] = {}
    out = list(write_slice(fan, stream, states, settings))  # type: ignore[arg-type]
    batches = [item for item in out if isinstance(item, list)]
    assert [r["ts"] for batch in batches for r in batch] == ["1.000001"]
    # each batch's reactions go to the reactions table: none here, so one clear marker
    marked = [(item.meta.table_name, item.data) for item in out if not isinstance(item, list)]
    assert [(t, [(r["ts"], r["_clear"]) for r in rows]) for t, rows in marked] == [
        ("reactions", [("1.000001", True)])
    ]
    assert stream.take_reconciliations() == [Reconcile("C1", "0", "2.000000", None, ["1.000001"])]
    assert stream.skipped == {"C2": "channel_not_found"}
    assert stream.slice_channels == {"C1"}
    assert states == {"C1": {"cursor": "1.000001"}}
    assert stream.failure is None
