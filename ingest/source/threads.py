"""Thread replies of one channel: fetched alongside its history, handed over as `Rows`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ingest.slack import AsyncSlackClient, SlackResourceError
from ingest.source.cursors import ThreadFetch
from ingest.source.events import Event, MarkDeleted, Reconcile, Rows
from ingest.source.progress import LoadProgress

Emit = Callable[[Event], Awaitable[None]]


@dataclass
class ChannelThreads:
    """What the replies tasks of one channel share with its history reader."""

    client: AsyncSlackClient
    channel_id: str
    emit: Emit
    progress: LoadProgress
    loaded_before: bool
    # broadcasts read from history: the same message as the reply, emitted once
    broadcasts: set[str]
    counts: dict[str, int]


async def thread_replies(
    job: ChannelThreads, parent_ts: str, plan: ThreadFetch, gate: asyncio.Semaphore
) -> None:
    """Fetch one thread as `plan` says, reconcile it if it may have lost replies, and
    release `gate` (acquired by the caller) when done."""
    cid = job.channel_id
    try:
        job.counts["threads"] += 1
        # A whole thread read on a channel loaded before may hold replies deleted since
        # (the thread need not be tracked: e.g. the lookback was widened).
        whole = plan.since is None
        reconcile_whole = whole and (plan.known or job.loaded_before)
        n_new, all_ts = await fetch_thread(job, parent_ts, plan.since, collect=reconcile_whole)
        deleted_some = (
            not whole and plan.expect is not None and plan.expect != plan.prev_count + n_new
        )
        if deleted_some:
            # The count does not add up: re-read the whole thread to find what is gone.
            _, all_ts = await fetch_thread(job, parent_ts, None, collect=True)
        if reconcile_whole or deleted_some:
            await job.emit(Reconcile(cid, None, None, parent_ts, all_ts))
    except SlackResourceError as exc:
        # thread_not_found: the parent was deleted between the two reads.
        job.progress.note(f"{cid}/{parent_ts}: {exc.code}")
    finally:
        gate.release()


async def fetch_thread(
    job: ChannelThreads, parent_ts: str, since: str | None, *, collect: bool
) -> tuple[int, list[str]]:
    """Emit a thread's replies (after `since`); returns (replies seen, their ts if
    collected). The parent (repeated on every page, or not) came from history; a
    broadcast already read from history is the same message, emitted once."""
    cid = job.channel_id
    params: dict[str, Any] = {"channel": cid, "ts": parent_ts}
    if since is not None:
        params["oldest"] = since
    n = 0
    all_ts: list[str] = []
    async for page in job.client.paginate("conversations.replies", **params):
        rows = []
        for msg in page.get("messages") or []:
            ts = msg["ts"]
            if ts == parent_ts:
                continue
            n += 1
            if collect:
                all_ts.append(ts)
            if ts in job.broadcasts:
                continue
            msg["channel_id"] = cid
            rows.append(msg)
        if rows:
            job.counts["messages"] += len(rows)
            job.counts["replies"] += len(rows)
            job.progress.add_replies(len(rows))
            await job.emit(Rows(rows))
    return n, all_ts


async def refresh_thread(job: ChannelThreads, root: str) -> dict[str, Any] | None:
    """Re-read a thread (or a single message) a captured change touched: every message,
    the parent included (its reply count and text may have moved), and the replies that
    vanished are marked. Returns the parent as Slack serves it now (None: deleted)."""
    cid = job.channel_id
    job.counts["threads"] += 1
    parent: dict[str, Any] | None = None
    replies: list[str] = []
    try:
        async for page in job.client.paginate("conversations.replies", channel=cid, ts=root):
            rows = []
            for msg in page.get("messages") or []:
                ts = msg["ts"]
                if ts == root:
                    if parent is not None:  # the parent repeated on a later page
                        continue
                    parent = msg
                else:
                    replies.append(ts)
                msg["channel_id"] = cid
                rows.append(msg)
            if rows:
                job.counts["messages"] += len(rows)
                job.counts["replies"] += sum(1 for m in rows if m["ts"] != root)
                job.progress.add_replies(len(rows))
                await job.emit(Rows(rows))
    except SlackResourceError as exc:
        if exc.code != "thread_not_found":
            raise
        # deleted since the change was captured (its own deletion event may be lost)
        await job.emit(MarkDeleted(cid, [root]))
        return None
    await job.emit(Reconcile(cid, None, None, root, replies))
    return parent
