"""Concurrent fetch of channel history and thread replies, streamed to a sync consumer.

dlt iterates resources synchronously; Slack is best read concurrently. So one asyncio
loop runs in a background thread: channels fan out under a semaphore (each read by a
`ChannelReader`, ingest/source/channel.py), and what they read goes to the consumer as
typed events (ingest/source/events.py) through a bounded hand-off (handoff.py). The bound
keeps memory flat whatever the workspace size: producers wait while dlt is behind.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

from ingest.slack import (
    AsyncSlackClient,
    SlackMissingScopeError,
    SlackResourceError,
    SlackRetryExhaustedError,
)
from ingest.source.changes import Changes
from ingest.source.channel import ChannelReader, Drained, FanoutShared
from ingest.source.connect import client_for
from ingest.source.events import (
    ChangesApplied,
    ChannelSkipped,
    End,
    Event,
    Failed,
    Fetched,
    Idle,
    Received,
)
from ingest.source.handoff import Handoff, HandoffClosed
from ingest.source.progress import LoadProgress
from ingest.source.selection import dm_history_lacking
from ingest.source.settings import LoadSettings


class _Stopped(Exception):
    """The consumer went away; unwind the producer quietly."""


class HistoryFanout:
    """Fetches history + replies of `channel_ids` on a background loop.

    Consumers call `next_item()`; one fan-out can feed several dlt extracts in a row
    (slices), each committing the checkpoints it consumed."""

    def __init__(
        self,
        token: str,
        settings: LoadSettings,
        channel_ids: list[str],
        states: dict[str, dict[str, Any]],
        progress: LoadProgress | None = None,
        now: float | None = None,
        *,
        changes: Changes | None = None,
        known_threads: dict[str, dict[str, list[Any]]] | None = None,
    ) -> None:
        self._token = token
        self.changes = changes
        self.known_threads = known_threads
        self.settings = settings
        self.channel_ids = list(channel_ids)
        self.states = states
        self.progress = progress or LoadProgress()
        self.now_micros = int((now if now is not None else time.time()) * 1_000_000)
        self.lookback_micros = int(settings.lookback_s * 1_000_000)
        self._q: Handoff[Event] = Handoff(maxsize=max(2, settings.queue_pages))
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.finished = False
        # The first call that ran out of retries. From then on the fan-out drains: no new
        # channel starts, channels in flight stop at their next checkpoint (or their end),
        # and the failure is handed over after everything they fetched, so the load commits
        # that progress before it fails. (One call giving up under heavy faults must not
        # throw away what 15 other channels fetched; under a full outage the channels in
        # flight give up together, within one more retry budget.)
        self.failure: SlackRetryExhaustedError | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None

    # -- consumer side -------------------------------------------------------------------
    def start(self) -> HistoryFanout:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._main, name="slack-ingest-fanout", daemon=True
            )
            self._thread.start()
        return self

    def next_item(self, timeout: float | None = None) -> Received:
        """The next event; `End()` once everything was fetched; `Idle()` if nothing came
        within `timeout` seconds (None: wait for ever). Raises the producer's error."""
        if self.finished:
            return End()
        self.start()
        item = self._q.get(timeout)
        match item:
            case None:
                return Idle()
            case End():
                self.finished = True
                self._join()
                return item
            case Failed(error=error):
                self.finished = True
                self._join()
                raise error
            case _:
                return item

    def items(self) -> Iterator[Fetched]:
        """Every event up to the end (then the fan-out is closed)."""
        try:
            while True:
                item = self.next_item()
                if isinstance(item, End | Idle):  # Idle: only with a timeout
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
        self._q.close()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            # a call may be sleeping out a long retry budget: do not wait for it
            try:
                loop.call_soon_threadsafe(task.cancel)
            except RuntimeError:  # the loop already closed
                pass
        self._join()

    def _join(self) -> None:
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=30)

    # -- producer side -------------------------------------------------------------------
    def _main(self) -> None:
        try:
            asyncio.run(self._run())
            self._hand_over(End())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            cause = _unwrap(exc)
            if isinstance(cause, _Stopped) or self._stop.is_set():
                return  # the consumer went away; nobody is left to tell
            self._hand_over(Failed(cause))

    def _hand_over(self, item: End | Failed) -> None:
        """The last event: queued without waiting, unless the consumer already left."""
        if not self._stop.is_set():
            self._q.put_final(item)

    async def _put(self, item: Event) -> None:
        if self._stop.is_set():
            raise _Stopped()
        try:
            await self._q.put(item)
        except HandoffClosed:
            raise _Stopped() from None

    async def _run(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop.is_set():
            return
        s = self.settings
        async with client_for(self._token, s) as client:
            self.progress.attach_stats(client.stats)
            channel_gate = asyncio.Semaphore(s.max_concurrent_channels)
            shared = self._shared(client)
            async with asyncio.TaskGroup() as tg:
                for cid in self.channel_ids:
                    tg.create_task(self._channel(shared, cid, channel_gate))
        if self.failure is not None:
            raise self.failure

    def _shared(self, client: AsyncSlackClient) -> FanoutShared:
        return FanoutShared(
            client=client,
            settings=self.settings,
            progress=self.progress,
            emit=self._put,
            replies_gate=asyncio.Semaphore(max(8, 4 * self.settings.max_in_flight)),
            now_micros=self.now_micros,
            lookback_micros=self.lookback_micros,
            draining=lambda: self.failure is not None,
            known_threads=self.known_threads,
        )

    async def _channel(
        self, shared: FanoutShared, cid: str, channel_gate: asyncio.Semaphore
    ) -> None:
        async with channel_gate:
            if self.failure is not None:
                return  # draining: start nothing new
            changes = self.changes.of(cid) if self.changes is not None else None
            try:
                await ChannelReader(shared, cid, self.states.get(cid), changes).read()
            except (SlackResourceError, SlackMissingScopeError) as exc:
                # a DM whose history scope the token lacks is unreadable like any channel
                why = (
                    exc.code
                    if isinstance(exc, SlackResourceError)
                    else dm_history_lacking(exc.needed)
                )
                if why is None:
                    raise
                self.progress.channel_skipped(cid, why)
                await self._put(ChannelSkipped(cid, why))
                if changes is not None:  # unreadable now: its captured changes cannot apply
                    await self._put(ChangesApplied(cid, list(changes.seqs)))
            except Drained:
                pass
            except SlackRetryExhaustedError as exc:
                if self.failure is None:
                    self.failure = exc


def _unwrap(exc: BaseException) -> BaseException:
    """TaskGroups wrap failures in ExceptionGroups; hand the consumer the first real one."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
