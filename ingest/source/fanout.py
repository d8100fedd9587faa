"""Concurrent fetch of channel history and thread replies, streamed to a sync consumer.

dlt iterates resources synchronously; Slack is best read concurrently. So one asyncio
loop runs in a background thread: channels fan out under a semaphore, each channel reads
its history newest-first while the replies of the threads on page N are fetched as page
N+1 is read (history and replies have separate budgets, both kept busy), and results go
through a bounded queue. The queue bounds memory whatever the workspace size: the
producer waits when the consumer (dlt) is behind.

Items on the queue: ("rows", [message, ...]), ("checkpoint", channel_id, state_dict),
("done", channel_id, state_dict, counts), ("skipped", channel_id, reason),
("reconcile", channel_id, lo, hi, thread_ts, [ts that exist]), ("error", exception), ("end",).
`next_item(timeout)` also answers ("idle",) when nothing came in time (never queued).
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from ingest.slack import AsyncSlackClient, SlackResourceError, SlackRetryExhaustedError
from ingest.source.arrow import is_reply
from ingest.source.progress import LoadProgress
from ingest.source.settings import LoadSettings, ts_to_micros
from ingest.source.state import (
    ChannelState,
    ThreadFetch,
    Window,
    advance,
    checkpoint,
    extends_down,
    is_thread_parent,
    plan_thread,
    plan_windows,
)

Item = tuple[Any, ...]
#: Longest single backoff between two attempts, in Slack seconds (a real Slack outage is
#: probed at least twice a minute; at time_scale 60 that is every 0.5 s).
BACKOFF_CAP_SLACK_S = 30.0


class _Stopped(Exception):
    """The consumer went away; unwind the producer quietly."""


class _Drained(Exception):
    """Another channel's call gave up: this channel stopped at a checkpoint it handed over."""


def client_for(token: str, settings: LoadSettings) -> AsyncSlackClient:
    """A client for this load. `budget_share` < 1 scales every rate down: N processes on one
    token (workers on several machines) each take 1/N of Slack's budget. The retry budget
    and the backoff cap are Slack time: at time_scale 60 a 10-minute budget lasts 10 s."""
    return AsyncSlackClient(
        token,
        base_url=settings.base_url,
        profile=settings.profile,
        time_scale=settings.time_scale * settings.budget_share,
        overrides=settings.limits or None,
        max_in_flight=settings.max_in_flight,
        max_retry_wait_s=settings.max_retry_wait_s / settings.time_scale,
        backoff_cap_s=BACKOFF_CAP_SLACK_S / settings.time_scale,
    )


def run_async(factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion in a fresh thread and loop (safe inside a running loop,
    e.g. a Prefect async task), re-raising its exception here."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="slack-ingest-call", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    return box.get("value")


class HistoryFanout:
    """Fetches history + replies of `channel_ids` on a background loop.

    Consumers call `next_item()`; one fan-out can feed several dlt extracts in a row
    (slices), each committing the checkpoints it consumed."""

    def __init__(self, token: str, settings: LoadSettings, channel_ids: list[str],
                 states: dict[str, dict[str, Any]], progress: LoadProgress | None = None,
                 now: float | None = None) -> None:
        self._token = token
        self.settings = settings
        self.channel_ids = list(channel_ids)
        self.states = states
        self.progress = progress or LoadProgress()
        self.now_micros = int((now if now is not None else time.time()) * 1_000_000)
        self.lookback_micros = int(settings.lookback_s * 1_000_000)
        self._q: queue.Queue[Item] = queue.Queue(maxsize=max(2, settings.queue_pages))
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
            self._thread = threading.Thread(target=self._main, name="slack-ingest-fanout",
                                            daemon=True)
            self._thread.start()
        return self

    def next_item(self, timeout: float | None = None) -> Item:
        """The next item; ("end",) once everything was fetched; ("idle",) if nothing came
        within `timeout` seconds (None: wait for ever). Re-raises producer errors."""
        if self.finished:
            return ("end",)
        self.start()
        try:
            item = self._q.get(timeout=timeout)
        except queue.Empty:
            return ("idle",)
        if item[0] == "end":
            self.finished = True
            self._join()
        elif item[0] == "error":
            self.finished = True
            self._join()
            raise item[1]
        return item

    def items(self) -> Iterator[Item]:
        try:
            while True:
                item = self.next_item()
                if item[0] == "end":
                    return
                yield item
        finally:
            self.close()

    def close(self) -> None:
        self._stop.set()
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
            self._hand_over(("end",))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer
            cause = _unwrap(exc)
            if isinstance(cause, _Stopped) or self._stop.is_set():
                return  # the consumer went away; nobody is left to tell
            self._hand_over(("error", cause))

    def _hand_over(self, item: Item) -> None:
        """Put without ever blocking past the consumer's departure (the queue may be full)."""
        while not self._stop.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return
            except queue.Full:
                continue

    async def _put(self, item: Item) -> None:
        while True:
            if self._stop.is_set():
                raise _Stopped()
            try:
                self._q.put_nowait(item)
                return
            except queue.Full:
                await asyncio.sleep(0.005)

    async def _run(self) -> None:
        self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
        if self._stop.is_set():
            return
        s = self.settings
        async with client_for(self._token, s) as client:
            self.progress.attach_stats(client.stats)
            channel_gate = asyncio.Semaphore(s.max_concurrent_channels)
            # Bounds replies tasks waiting behind the budget (memory), not throughput.
            replies_gate = asyncio.Semaphore(max(8, 4 * s.max_in_flight))
            async with asyncio.TaskGroup() as tg:
                for cid in self.channel_ids:
                    tg.create_task(self._channel(client, cid, channel_gate, replies_gate))
        if self.failure is not None:
            raise self.failure

    async def _channel(self, client: AsyncSlackClient, cid: str,
                       channel_gate: asyncio.Semaphore, replies_gate: asyncio.Semaphore) -> None:
        async with channel_gate:
            if self.failure is not None:
                return  # draining: start nothing new
            try:
                await self._read_channel(client, cid, replies_gate)
            except SlackResourceError as exc:
                self.progress.channel_skipped(cid, exc.code)
                await self._put(("skipped", cid, exc.code))
            except _Drained:
                pass
            except SlackRetryExhaustedError as exc:
                if self.failure is None:
                    self.failure = exc

    async def _read_channel(self, client: AsyncSlackClient, cid: str,
                            replies_gate: asyncio.Semaphore) -> None:
        s = self.settings
        state = ChannelState.from_dict(self.states.get(cid))
        # `running` shares `state.threads` (read only); threads seen this run are folded in
        # when a checkpoint is encoded, so a channel's threads are held once, not copied.
        running = ChannelState(cursor=state.cursor, from_ts=state.from_ts,
                               threads=state.threads)
        loaded_before = state.cursor is not None
        windows = plan_windows(state, s.oldest_ts, s.latest_ts, self.now_micros,
                               self.lookback_micros)
        max_ts: str | None = None
        floor = self.now_micros - self.lookback_micros
        seen_threads: dict[str, list[Any]] = {}
        broadcasts: set[str] = set()
        counts = {"messages": 0, "replies": 0, "threads": 0}
        pending: set[asyncio.Task[None]] = set()
        # The first replies task that failed interrupts the channel wherever it waits (the
        # replies gate, the budget, the queue): the channel cannot reach its next checkpoint
        # without that thread, and its other replies tasks would each spend a retry budget
        # queued behind Slack's rate limit for nothing.
        failed: list[BaseException] = []
        me = asyncio.current_task()

        def on_replies_done(t: asyncio.Task[None]) -> None:
            if t.cancelled() or t.exception() is None or failed:
                return
            failed.append(t.exception())  # type: ignore[arg-type]
            if me is not None:
                me.cancel()

        # Messages read since the last checkpoint of a contiguous window, newest first, with
        # the replies task of each thread parent. When the channel fails, the messages down
        # to the first thread that did not finish are still committed (`salvage`): under
        # heavy faults a failure lands in most stretches of `checkpoint_pages` pages, and
        # without this a big channel can fail in the same stretch run after run.
        marks: list[tuple[str, asyncio.Task[None] | None]] = []
        contiguous = False
        # Threads whose replies were all handed over by the last checkpoint (or an earlier
        # window). A salvaged checkpoint may record only these and the ones it claims: a
        # parent seen on a page that was cut short would otherwise be recorded as known,
        # and the next run would never fetch its replies.
        settled_threads: set[str] = set()

        def ok(task: asyncio.Task[None] | None) -> bool:
            return task is None or (task.done() and not task.cancelled()
                                    and task.exception() is None)

        async def salvage() -> None:
            if not contiguous or not marks:
                return
            done = next((i for i, (_, task) in enumerate(marks) if not ok(task)), len(marks))
            if not done:
                return
            micros = [ts_to_micros(ts) for ts, _ in marks]
            lo = min(range(done), key=lambda i: micros[i])
            hi = max(range(done), key=lambda i: micros[i])
            unfinished = {ts for ts, task in marks[done:] if task is not None}
            if any(ts_to_micros(ts) >= micros[lo] for ts in unfinished):
                return  # not newest-first after all: nothing safe to claim
            claimed = {ts for ts, _ in marks[:done]}
            threads = {k: v for k, v in seen_threads.items()
                       if k in settled_threads or k in claimed}
            checkpoint(running, contiguous=True, min_seen=marks[lo][0], max_seen=marks[hi][0],
                       complete=False, start=s.oldest_ts)
            await self._put(("checkpoint", cid, running.to_dict(threads)))

        def reap() -> None:
            """Forget finished replies tasks, re-raising the first error (a thread that ran
            out of retries stops its channel now, not after the next pages)."""
            for t in [t for t in pending if t.done()]:
                pending.discard(t)
                t.result()

        async def settle() -> None:
            """Wait for every replies task started so far (re-raising their errors)."""
            while pending:
                reap()
                if pending:
                    await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)

        try:
            try:
                for window in windows:
                    contiguous = extends_down(state, window)
                    marks.clear()
                    settled_threads = set(seen_threads)
                    # A window over rows loaded before: remember what exists now, so rows that
                    # vanished (deleted in Slack) can be marked after the load.
                    recheck_hi = _recheck_top(state, window)
                    seen: list[str] | None = [] if recheck_hi is not None else None
                    w_min: str | None = None
                    w_max: str | None = None
                    w_min_m, w_max_m = 1 << 62, -1
                    pages = 0
                    async for page in client.paginate("conversations.history", channel=cid,
                                                      **window.params()):
                        rows = page.get("messages") or []
                        page_marks: list[tuple[str, asyncio.Task[None] | None]] = []
                        for msg in rows:
                            msg["channel_id"] = cid
                            ts = msg["ts"]
                            m = ts_to_micros(ts)
                            if m > w_max_m:
                                w_max_m, w_max = m, ts
                            if m < w_min_m:
                                w_min_m, w_min = m, ts
                            if msg.get("subtype") == "thread_broadcast":
                                broadcasts.add(ts)
                            if seen is not None:
                                seen.append(ts)
                            if s.replies and is_thread_parent(msg):
                                # Only parents inside the lookback are tracked (the state, and
                                # every checkpoint of it, stays the size of the lookback).
                                if msg.get("latest_reply") and m >= floor:
                                    seen_threads[ts] = [msg["latest_reply"], msg.get("reply_count")]
                                plan = plan_thread(msg, state)
                                if plan is not None:
                                    await replies_gate.acquire()
                                    task = asyncio.create_task(self._thread_replies(
                                        client, cid, ts, plan, broadcasts, counts, replies_gate,
                                        loaded_before))
                                    task.add_done_callback(on_replies_done)
                                    pending.add(task)
                                    page_marks.append((ts, task))
                                    continue
                            page_marks.append((ts, None))
                        # per channel, as in the table: rows, and rows that are replies
                        counts["messages"] += len(rows)
                        counts["replies"] += sum(1 for m in rows if is_reply(m))
                        self.progress.add_messages(len(rows))
                        if rows:
                            await self._put(("rows", rows))
                            if contiguous:
                                marks.extend(page_marks)
                        pages += 1
                        reap()
                        if contiguous and s.checkpoint_pages and pages % s.checkpoint_pages == 0:
                            await settle()
                            checkpoint(running, contiguous=True, min_seen=w_min, max_seen=w_max,
                                       complete=False, start=s.oldest_ts)
                            await self._put(("checkpoint", cid, running.to_dict(seen_threads)))
                            marks.clear()
                            settled_threads = set(seen_threads)
                            if self.failure is not None:
                                raise _Drained()
                    await settle()
                    if seen is not None and recheck_hi is not None:
                        await self._put(("reconcile", cid, window.oldest, recheck_hi, None, seen))
                    checkpoint(running, contiguous=contiguous, min_seen=w_min, max_seen=w_max,
                               complete=True, start=s.oldest_ts)
                    if w_max is not None and (max_ts is None or w_max_m > ts_to_micros(max_ts)):
                        max_ts = w_max
                    if self.failure is not None and window is not windows[-1]:
                        await self._put(("checkpoint", cid, running.to_dict(seen_threads)))
                        raise _Drained()
            except asyncio.CancelledError:
                if not failed or me is None:
                    raise
                me.uncancel()
                raise failed[0] from None
        except SlackRetryExhaustedError:
            await salvage()
            raise
        finally:
            for t in pending:
                t.cancel()
        new_state = advance(state, max_ts_seen=max_ts, start=s.oldest_ts,
                            seen_threads=seen_threads, now_micros=self.now_micros,
                            lookback_micros=self.lookback_micros)
        self.progress.channel_done(cid, counts)
        await self._put(("done", cid, new_state.to_dict(), counts))

    async def _thread_replies(self, client: AsyncSlackClient, cid: str, parent_ts: str,
                              plan: ThreadFetch, broadcasts: set[str], counts: dict[str, int],
                              gate: asyncio.Semaphore, loaded_before: bool) -> None:
        try:
            counts["threads"] += 1
            # A whole thread read on a channel loaded before may hold replies deleted since
            # (the thread need not be tracked: e.g. the lookback was widened).
            whole = plan.since is None
            reconcile_whole = whole and (plan.known or loaded_before)
            n_new, all_ts = await self._fetch_thread(client, cid, parent_ts, plan.since,
                                                     broadcasts, counts, collect=reconcile_whole)
            deleted_some = (not whole and plan.expect is not None
                            and plan.expect != plan.prev_count + n_new)
            if deleted_some:
                # The count does not add up: re-read the whole thread to find what is gone.
                _, all_ts = await self._fetch_thread(client, cid, parent_ts, None, broadcasts,
                                                     counts, collect=True)
            if reconcile_whole or deleted_some:
                await self._put(("reconcile", cid, None, None, parent_ts, all_ts))
        except SlackResourceError as exc:
            # thread_not_found: the parent was deleted between the two reads.
            self.progress.note(f"{cid}/{parent_ts}: {exc.code}")
        finally:
            gate.release()

    async def _fetch_thread(self, client: AsyncSlackClient, cid: str, parent_ts: str,
                            since: str | None, broadcasts: set[str], counts: dict[str, int],
                            *, collect: bool) -> tuple[int, list[str]]:
        """Emit a thread's replies (after `since`); returns (replies seen, their ts if
        collected). The parent (repeated on every page, or not) came from history; a
        broadcast already read from history is the same message, emitted once."""
        params: dict[str, Any] = {"channel": cid, "ts": parent_ts}
        if since is not None:
            params["oldest"] = since
        n = 0
        all_ts: list[str] = []
        async for page in client.paginate("conversations.replies", **params):
            rows = []
            for msg in page.get("messages") or []:
                ts = msg["ts"]
                if ts == parent_ts:
                    continue
                n += 1
                if collect:
                    all_ts.append(ts)
                if ts in broadcasts:
                    continue
                msg["channel_id"] = cid
                rows.append(msg)
            if rows:
                counts["messages"] += len(rows)
                counts["replies"] += len(rows)
                self.progress.add_replies(len(rows))
                await self._put(("rows", rows))
        return n, all_ts


def _recheck_top(state: ChannelState, window: Window) -> str | None:
    """Upper bound of the part of `window` that was loaded by an earlier run (None: none)."""
    if state.cursor is None or window.latest == state.from_ts:
        return None
    if ts_to_micros(window.oldest) >= ts_to_micros(state.cursor):
        return None
    if window.latest is not None and ts_to_micros(window.latest) < ts_to_micros(state.cursor):
        return window.latest
    return state.cursor


def _unwrap(exc: BaseException) -> BaseException:
    """TaskGroups wrap failures in ExceptionGroups; hand the consumer the first real one."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc
