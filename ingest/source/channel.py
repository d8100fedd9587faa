"""One channel's history, read newest-first window by window, with its threads' replies.

The replies of the thread parents on page N are fetched (separate tasks, separate budget)
while page N+1 is read. Progress is handed over as `Checkpoint`s every `checkpoint_pages`
pages of a contiguous window, once every thread read so far is loaded too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ingest.slack import AsyncSlackClient, SlackRetryExhaustedError
from ingest.source.arrow import is_reply
from ingest.source.changes import ChannelChanges
from ingest.source.cursors import (
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
from ingest.source.events import (
    ChangesApplied,
    ChannelDone,
    Checkpoint,
    MarkDeleted,
    Reconcile,
    Rows,
)
from ingest.source.progress import LoadProgress
from ingest.source.settings import LoadSettings, ts_to_micros
from ingest.source.threads import ChannelThreads, Emit, refresh_thread, thread_replies

#: `limit` of a rescan's history pages: the largest Slack serves (fewest requests).
RESCAN_PAGE = 999

#: (ts, replies task of the thread it starts, if any) of a message read since a checkpoint
Mark = tuple[str, asyncio.Task[None] | None]


class Drained(Exception):
    """Another channel's call gave up: this channel stopped at a checkpoint it handed over."""


@dataclass
class FanoutShared:
    """What every channel reader of one fan-out shares."""

    client: AsyncSlackClient
    settings: LoadSettings
    progress: LoadProgress
    emit: Emit
    # Bounds replies tasks waiting behind the budget (memory), not throughput.
    replies_gate: asyncio.Semaphore
    now_micros: int
    lookback_micros: int
    # True once a call ran out of retries: channels stop at their next checkpoint.
    draining: Callable[[], bool]
    #: A rescan: per channel, parent ts -> [newest reply ts, replies] as the warehouse
    #: holds them (None: not a rescan).
    known_threads: dict[str, dict[str, list[Any]]] | None = None


@dataclass
class _WindowScan:
    """What one window's pages showed so far."""

    recheck_hi: str | None  # top of the part loaded by an earlier run (None: none)
    seen: list[str] | None  # every ts read, when the window is re-checked for deletions
    w_min: str | None = None
    w_max: str | None = None
    w_min_m: int = 1 << 62
    w_max_m: int = -1
    pages: int = 0

    def note(self, ts: str, m: int) -> None:
        if m > self.w_max_m:
            self.w_max_m, self.w_max = m, ts
        if m < self.w_min_m:
            self.w_min_m, self.w_min = m, ts
        if self.seen is not None:
            self.seen.append(ts)


@dataclass
class ChannelReader:
    shared: FanoutShared
    cid: str
    saved: dict[str, Any] | None
    changes: ChannelChanges | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"messages": 0, "replies": 0, "threads": 0}
    )

    def __post_init__(self) -> None:
        sh, s = self.shared, self.shared.settings
        self.state = ChannelState.from_dict(self.saved)
        # `running` shares `state.threads` (read only); threads seen this run are folded in
        # when a checkpoint is encoded, so a channel's threads are held once, not copied.
        self.running = ChannelState(
            cursor=self.state.cursor, from_ts=self.state.from_ts, threads=self.state.threads
        )
        # A rescan re-reads every window down to what is held (its deletions are
        # reconciled); threads are still tracked in the state for the lookback only.
        self.known = None if sh.known_threads is None else sh.known_threads.get(self.cid, {})
        window_lookback = sh.now_micros if s.rescan else sh.lookback_micros
        self.windows = plan_windows(
            self.state, s.oldest_ts, s.latest_ts, sh.now_micros, window_lookback
        )
        self.floor = sh.now_micros - sh.lookback_micros
        self.max_ts: str | None = None
        self.seen_threads: dict[str, list[Any]] = {}
        self.threads = ChannelThreads(
            sh.client,
            self.cid,
            sh.emit,
            sh.progress,
            self.state.cursor is not None,
            set(),
            self.counts,
        )
        self.pending: set[asyncio.Task[None]] = set()
        # The first replies task that failed interrupts the channel wherever it waits (the
        # replies gate, the budget, the queue): the channel cannot reach its next checkpoint
        # without that thread, and its other replies tasks would each spend a retry budget
        # queued behind Slack's rate limit for nothing.
        self.failed: list[BaseException] = []
        self.me: asyncio.Task[Any] | None = None
        # Messages read since the last checkpoint of a contiguous window, newest first, with
        # the replies task of each thread parent. When the channel fails, the messages down
        # to the first thread that did not finish are still committed (`_salvage`): under
        # heavy faults a failure lands in most stretches of `checkpoint_pages` pages, and
        # without this a big channel can fail in the same stretch run after run.
        self.marks: list[Mark] = []
        self.contiguous = False
        # Threads whose replies were all handed over by the last checkpoint (or an earlier
        # window). A salvaged checkpoint may record only these and the ones it claims: a
        # parent seen on a page that was cut short would otherwise be recorded as known,
        # and the next run would never fetch its replies.
        self.settled_threads: set[str] = set()

    async def read(self) -> None:
        """Read every window, then hand over `ChannelDone`. Raises `Drained` when stopped
        at a checkpoint, and the first error of the history or of a replies task."""
        self.me = asyncio.current_task()
        try:
            try:
                await self._apply_changes()
                await self._read_windows()
            except asyncio.CancelledError:
                if not self.failed or self.me is None:
                    raise
                self.me.uncancel()
                raise self.failed[0] from None
        except SlackRetryExhaustedError:
            await self._salvage()
            raise
        finally:
            for t in self.pending:
                t.cancel()
        sh = self.shared
        new_state = advance(
            self.state,
            max_ts_seen=self.max_ts,
            start=sh.settings.oldest_ts,
            seen_threads=self.seen_threads,
            now_micros=sh.now_micros,
            lookback_micros=sh.lookback_micros,
        )
        sh.progress.channel_done(self.cid, self.counts)
        await sh.emit(ChannelDone(self.cid, new_state.to_dict(), self.counts))

    # -- captured changes ----------------------------------------------------------------
    async def _apply_changes(self) -> None:
        """Re-read the threads and messages the listener saw change (one replies call
        each), mark the deletions it saw, then hand over `ChangesApplied`. A channel read
        for the first time needs none of it: its whole history is read now."""
        ch = self.changes
        if ch is None:
            return
        if self.state.cursor is not None:
            if ch.deleted:
                await self.shared.emit(MarkDeleted(self.cid, sorted(ch.deleted)))
            # (not a TaskGroup: its ExceptionGroup would hide a skipped channel's
            # SlackResourceError and a call that gave up from `read`'s handlers)
            tasks = [asyncio.create_task(self._refresh(r)) for r in ch.refresh(self._in_windows)]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for t in tasks:
                    t.cancel()
                raise
        await self.shared.emit(ChangesApplied(self.cid, list(ch.seqs)))

    def _in_windows(self, ts: str) -> bool:
        """Whether this run's history windows read the message `ts` (exclusive bounds)."""
        m = ts_to_micros(ts)
        return any(
            (w.oldest == "0" or ts_to_micros(w.oldest) < m)
            and (w.latest is None or m < ts_to_micros(w.latest))
            for w in self.windows
        )

    async def _refresh(self, root: str) -> None:
        async with self.shared.replies_gate:
            parent = await refresh_thread(self.threads, root)
        if parent is None or not is_thread_parent(parent):
            return
        entry = [parent.get("latest_reply"), parent.get("reply_count")]
        # the history re-read of the lookback (or a rescan) then finds it unchanged
        if ts_to_micros(root) >= self.floor:
            self.state.threads[root] = entry
        if self.known is not None:
            self.known[root] = entry

    # -- windows and pages ---------------------------------------------------------------
    async def _read_windows(self) -> None:
        for window in self.windows:
            await self._read_window(window)
            if self.shared.draining() and window is not self.windows[-1]:
                await self._emit_checkpoint(self.seen_threads)
                raise Drained()

    async def _read_window(self, window: Window) -> None:
        s = self.shared.settings
        self.contiguous = extends_down(self.state, window)
        self.marks.clear()
        self.settled_threads = set(self.seen_threads)
        # A window over rows loaded before: remember what exists now, so rows that
        # vanished (deleted in Slack) can be marked after the load.
        recheck_hi = _recheck_top(self.state, window)
        scan = _WindowScan(recheck_hi, [] if recheck_hi is not None else None)
        params = window.params()
        if s.rescan:
            params["limit"] = str(RESCAN_PAGE)
        async for page in self.shared.client.paginate(
            "conversations.history", channel=self.cid, **params
        ):
            await self._read_page(page.get("messages") or [], scan)
            if self.contiguous and s.checkpoint_pages and scan.pages % s.checkpoint_pages == 0:
                await self._checkpoint_within(scan)
        await self._end_window(window, scan)

    async def _read_page(self, rows: list[dict[str, Any]], scan: _WindowScan) -> None:
        page_marks: list[Mark] = [(msg["ts"], await self._read_message(msg, scan)) for msg in rows]
        # per channel, as in the table: rows, and rows that are replies
        self.counts["messages"] += len(rows)
        self.counts["replies"] += sum(1 for m in rows if is_reply(m))
        self.shared.progress.add_messages(len(rows))
        if rows:
            await self.shared.emit(Rows(rows))
            if self.contiguous:
                self.marks.extend(page_marks)
        scan.pages += 1
        self._reap()

    async def _read_message(
        self, msg: dict[str, Any], scan: _WindowScan
    ) -> asyncio.Task[None] | None:
        """Note one history message; start its thread's replies task if there is one."""
        msg["channel_id"] = self.cid
        ts = msg["ts"]
        m = ts_to_micros(ts)
        scan.note(ts, m)
        if msg.get("subtype") == "thread_broadcast":
            self.threads.broadcasts.add(ts)
        if not (self.shared.settings.replies and is_thread_parent(msg)):
            return None
        # Only parents inside the lookback are tracked (the state, and every checkpoint of
        # it, stays the size of the lookback).
        if msg.get("latest_reply") and m >= self.floor:
            self.seen_threads[ts] = [msg["latest_reply"], msg.get("reply_count")]
        plan = plan_thread(msg, self.state, self.known)
        if plan is None:
            return None
        if plan.since is None and plan.known and msg.get("reply_count") == 0:
            # every reply of a thread loaded before was deleted: mark them, no call needed
            await self.shared.emit(Reconcile(self.cid, None, None, ts, []))
            return None
        return await self._start_thread(ts, plan)

    async def _checkpoint_within(self, scan: _WindowScan) -> None:
        """Hand over the progress of a contiguous window so far (after its threads)."""
        await self._settle()
        checkpoint(
            self.running,
            contiguous=True,
            min_seen=scan.w_min,
            max_seen=scan.w_max,
            complete=False,
            start=self.shared.settings.oldest_ts,
        )
        await self._emit_checkpoint(self.seen_threads)
        self.marks.clear()
        self.settled_threads = set(self.seen_threads)
        if self.shared.draining():
            raise Drained()

    async def _end_window(self, window: Window, scan: _WindowScan) -> None:
        await self._settle()
        if scan.seen is not None and scan.recheck_hi is not None:
            await self.shared.emit(
                Reconcile(self.cid, window.oldest, scan.recheck_hi, None, scan.seen)
            )
        checkpoint(
            self.running,
            contiguous=self.contiguous,
            min_seen=scan.w_min,
            max_seen=scan.w_max,
            complete=True,
            start=self.shared.settings.oldest_ts,
        )
        if scan.w_max is not None and (
            self.max_ts is None or scan.w_max_m > ts_to_micros(self.max_ts)
        ):
            self.max_ts = scan.w_max

    async def _emit_checkpoint(self, threads: dict[str, Any]) -> None:
        await self.shared.emit(Checkpoint(self.cid, self.running.to_dict(threads)))

    # -- replies tasks -------------------------------------------------------------------
    async def _start_thread(self, ts: str, plan: ThreadFetch) -> asyncio.Task[None]:
        gate = self.shared.replies_gate
        await gate.acquire()  # released by the task
        task = asyncio.create_task(thread_replies(self.threads, ts, plan, gate))
        task.add_done_callback(self._on_replies_done)
        self.pending.add(task)
        return task

    def _on_replies_done(self, t: asyncio.Task[None]) -> None:
        if t.cancelled() or self.failed:
            return
        exc = t.exception()
        if exc is None:
            return
        self.failed.append(exc)
        if self.me is not None:
            self.me.cancel()

    def _reap(self) -> None:
        """Forget finished replies tasks, re-raising the first error (a thread that ran
        out of retries stops its channel now, not after the next pages)."""
        for t in [t for t in self.pending if t.done()]:
            self.pending.discard(t)
            t.result()

    async def _settle(self) -> None:
        """Wait for every replies task started so far (re-raising their errors)."""
        while self.pending:
            self._reap()
            if self.pending:
                await asyncio.wait(self.pending, return_when=asyncio.FIRST_COMPLETED)

    # -- failure -------------------------------------------------------------------------
    async def _salvage(self) -> None:
        """Commit the messages down to the first thread that did not finish."""
        if not self.contiguous:
            return
        point = salvage_point(self.marks)
        if point is None:
            return
        lo, hi, claimed = point
        threads = {
            k: v for k, v in self.seen_threads.items() if k in self.settled_threads or k in claimed
        }
        checkpoint(
            self.running,
            contiguous=True,
            min_seen=lo,
            max_seen=hi,
            complete=False,
            start=self.shared.settings.oldest_ts,
        )
        await self._emit_checkpoint(threads)


def _finished(task: asyncio.Task[None] | None) -> bool:
    return task is None or (task.done() and not task.cancelled() and task.exception() is None)


def salvage_point(marks: list[Mark]) -> tuple[str, str, set[str]] | None:
    """(lowest ts, highest ts, every ts) of the messages read newest-first before the first
    thread that did not finish; None when nothing is safe to claim."""
    done = next((i for i, (_, task) in enumerate(marks) if not _finished(task)), len(marks))
    if not done:
        return None
    micros = [ts_to_micros(ts) for ts, _ in marks]
    lo = min(range(done), key=lambda i: micros[i])
    hi = max(range(done), key=lambda i: micros[i])
    unfinished = {ts for ts, task in marks[done:] if task is not None}
    if any(ts_to_micros(ts) >= micros[lo] for ts in unfinished):
        return None  # not newest-first after all: nothing safe to claim
    return marks[lo][0], marks[hi][0], {ts for ts, _ in marks[:done]}


def _recheck_top(state: ChannelState, window: Window) -> str | None:
    """Upper bound of the part of `window` that was loaded by an earlier run (None: none)."""
    if state.cursor is None or window.latest == state.from_ts:
        return None
    if ts_to_micros(window.oldest) >= ts_to_micros(state.cursor):
        return None
    if window.latest is not None and ts_to_micros(window.latest) < ts_to_micros(state.cursor):
        return window.latest
    return state.cursor
