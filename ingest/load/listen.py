"""`slack-ingest listen`: record Slack's events in the change journal until stopped.

The listener only records (`ingest.slack.socket_mode` acknowledges each envelope once it
is in the journal); the next run applies what it recorded (`ingest.load.journal`). Events
that happen while no listener is connected are lost (Slack does not replay them): the
run's lookback and `--rescan` are the safety nets.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ingest.load.journal import Journal
from ingest.load.target import Target
from ingest.slack.socket_mode import ListenerStats, SocketModeListener
from ingest.source import LoadSettings


@dataclass
class ListenResult:
    journal: str
    reason: str
    stats: ListenerStats
    pending: int
    elapsed_s: float

    def as_dict(self) -> dict[str, Any]:
        s = self.stats
        return {
            "journal": self.journal,
            "stopped": self.reason,
            "connections": s.connections,
            "envelopes": s.envelopes,
            "recorded": s.recorded,
            "redelivered": s.redelivered,
            "duplicates": s.duplicates,
            "record_failures": s.record_failures,
            "disconnects": dict(s.disconnects),
            "pending": self.pending,
            "elapsed_s": round(self.elapsed_s, 3),
        }


def listen(
    app_token: str,
    settings: LoadSettings,
    target: Target,
    *,
    stop: threading.Event | None = None,
    stop_after_s: float | None = None,
    on_status: Callable[[ListenerStats, int], None] | None = None,
    on_start: Callable[[str], None] | None = None,
    status_every_s: float = 30.0,
    ping_interval: float = 5.0,
) -> ListenResult:
    """Listen until `stop` is set, `stop_after_s` passed, or Slack disables the link.

    Raises SlackAuthError/SlackError when the first connection cannot be opened."""
    path = target.journal_file()
    started = time.monotonic()
    journals: list[Journal] = []

    async def main() -> tuple[str, ListenerStats]:
        done = asyncio.Event()
        loop = asyncio.get_running_loop()
        listener = SocketModeListener(
            app_token, base_url=settings.base_url, ping_interval=ping_interval
        )
        url = await listener.open()  # a rejected token fails here, before any file exists
        journal = Journal(path)
        journals.append(journal)
        listener.record_with(journal.record)
        if on_start is not None:
            on_start(str(path))

        async def watch() -> None:
            last = 0.0
            while not done.is_set():
                await asyncio.sleep(0.2)
                now = time.monotonic()
                if stop is not None and stop.is_set():
                    done.set()
                if stop_after_s is not None and now - started >= stop_after_s:
                    done.set()
                if on_status is not None and now - last >= status_every_s:
                    last = now
                    on_status(listener.stats, journal.stats().pending)

        watcher = loop.create_task(watch())
        try:
            reason = await listener.run(done, url)
        finally:
            done.set()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        return reason, listener.stats

    try:
        reason, stats = asyncio.run(main())
        pending = journals[0].stats().pending
    finally:
        for j in journals:
            j.close()
    return ListenResult(str(path), reason, stats, pending, time.monotonic() - started)
