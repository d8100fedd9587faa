"""Thread-safe progress counters shared by the fan-out (producer thread) and a display."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any


class LoadProgress:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.started = time.monotonic()
        self.channels_total = 0
        self.channels_done = 0
        self.messages = 0
        self.replies = 0
        self.skipped: dict[str, str] = {}
        self.channels: dict[str, dict[str, int]] = {}
        self.notes: list[str] = []
        self._stats: list[Any] = []
        # What this run committed to the destination (slices loaded), for the line a
        # failed or interrupted run ends with (`kept_summary`).
        self.committed_loads = 0
        self.committed_rows: dict[str, int] = {}
        self.committed_channels: set[str] = set()
        # id -> name of the channels the plan listed (tables and lines show both)
        self.channel_names: dict[str, str] = {}

    def set_total(self, n: int) -> None:
        with self._lock:
            self.channels_total = n

    def add_messages(self, n: int) -> None:
        with self._lock:
            self.messages += n

    def add_replies(self, n: int) -> None:
        with self._lock:
            self.replies += n

    def channel_done(self, cid: str, counts: dict[str, int] | None = None) -> None:
        with self._lock:
            self.channels_done += 1
            if counts is not None:
                self.channels[cid] = {
                    "messages": counts.get("messages", 0),
                    "replies": counts.get("replies", 0),
                }

    def channel_skipped(self, cid: str, reason: str) -> None:
        with self._lock:
            self.skipped[cid] = reason

    def note(self, text: str) -> None:
        with self._lock:
            if len(self.notes) < 1000:
                self.notes.append(text)

    def committed(self, row_counts: dict[str, int], channels: Iterable[str] = ()) -> None:
        """A slice was loaded: its rows per table and the channels whose progress it saved."""
        with self._lock:
            self.committed_loads += 1
            for table, n in row_counts.items():
                self.committed_rows[table] = self.committed_rows.get(table, 0) + int(n)
            self.committed_channels.update(channels)

    def kept_summary(self, where: str) -> str:
        """What this run committed, for a failure line: "kept 2,580 messages and 3 channels'
        progress in slack_ingest.duckdb", or "nothing was loaded by this run"."""
        with self._lock:
            if not self.committed_loads:
                return "nothing was loaded by this run"
            messages = self.committed_rows.get("messages", 0)
            channels = len(self.committed_channels)
            parts = [f"{messages:,} messages"] if messages else []
            if channels:
                noun = "channel's" if channels == 1 else "channels'"
                parts.append(f"{channels:,} {noun} progress")
            if not parts:
                parts = [
                    f"{n:,} {table} rows" for table, n in sorted(self.committed_rows.items()) if n
                ] or ["no new rows"]
        return f"kept {' and '.join(parts)} in {where}"

    def set_channel_names(self, names: dict[str, str]) -> None:
        with self._lock:
            self.channel_names.update(names)

    def attach_stats(self, stats: Any) -> None:
        """Keep a client's stats object so a display can show requests against budget."""
        with self._lock:
            self._stats.append(stats)

    def client_stats(self) -> list[Any]:
        """The stats objects of every client of this load."""
        with self._lock:
            return list(self._stats)

    def request_stats(self) -> dict[str, dict[str, Any]]:
        """Per-method client stats summed over every client of this load."""
        merged: dict[str, dict[str, Any]] = {}
        for st in self.client_stats():
            for method, row in st.as_dict().items():
                acc = merged.setdefault(method, {})
                for key, value in row.items():
                    if isinstance(value, int | float) and not key.startswith("current_rate"):
                        acc[key] = acc.get(key, 0) + value
                    else:
                        acc[key] = value
        return merged

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "elapsed_s": round(time.monotonic() - self.started, 3),
                "channels_total": self.channels_total,
                "channels_done": self.channels_done,
                "messages": self.messages,
                "replies": self.replies,
                "skipped": dict(self.skipped),
                "notes": list(self.notes),
                "channels": {cid: dict(c) for cid, c in self.channels.items()},
                "channel_names": dict(self.channel_names),
            }
