"""One backfill shape, two clients: list channels, read every readable channel's history
concurrently, fetch the replies of every thread parent as soon as its page arrives.

`Pager` abstracts the client: ours (`AsyncSlackClient.paginate`) or slack-sdk's
`AsyncWebClient`. The shape, page sizes and concurrency are the same for both, so wall times
compare clients, not harnesses. Failures are recorded per call, never raised: a peer that
gives up on some calls still yields a result, marked incomplete.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

Pager = Callable[..., AsyncIterator[dict[str, Any]]]

FETCH_METHODS = ("conversations.list", "conversations.history", "conversations.replies")


def fanout_message_keys(fanout: Any) -> set[tuple[str, str]]:
    """Drain the loader's own fan-out (`ingest.source.HistoryFanout`, no dlt): the unique
    (channel_id, ts) of the messages it read."""
    from ingest.source import Rows

    keys: set[tuple[str, str]] = set()
    for item in fanout.items():
        if isinstance(item, Rows):
            keys.update((m["channel_id"], m["ts"]) for m in item.rows)
    return keys


@dataclass
class FetchResult:
    wall_s: float = 0.0
    channels: int = 0
    channel_ids: list[str] = field(default_factory=list)
    messages: int = 0  # unique (channel_id, ts)
    pages: dict[str, int] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)
    rows: list[dict[str, Any]] | None = None
    #: longest chain of requests that must go one after another (list -> history pages of a
    #: channel -> a thread's reply pages): no concurrency can beat chain x latency
    critical_path: int = 0

    def summary(self, expected: int | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "wall_s": round(self.wall_s, 4),
            "channels": self.channels,
            "messages": self.messages,
            "pages": dict(self.pages),
            "failed_calls": len(self.failed),
            "critical_path_requests": self.critical_path,
        }
        if self.failed:
            out["first_failure"] = self.failed[0][:300]
        if expected is not None:
            out["expected_messages"] = expected
            out["complete"] = self.messages == expected and not self.failed
        return out


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Backfill:
    def __init__(
        self,
        pager: Pager,
        *,
        channel_concurrency: int = 16,
        limits: dict[str, int] | None = None,
        keep_rows: bool = False,
        max_channels: int | None = None,
        history_windows: int = 1,
        only_channels: list[str] | None = None,
    ) -> None:
        self.pager = pager
        self.channel_concurrency = channel_concurrency
        self.limits = limits or {}
        self.keep_rows = keep_rows
        self.max_channels = max_channels
        self.history_windows = max(1, history_windows)
        self.only_channels = None if only_channels is None else set(only_channels)
        self.result = FetchResult()
        self._seen: dict[tuple[str, str], dict[str, Any] | None] = {}

    def _params(self, method: str, **params: Any) -> dict[str, Any]:
        if method in self.limits:
            params["limit"] = self.limits[method]
        return params

    async def _pages(self, method: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        async for page in self.pager(method, **self._params(method, **params)):
            self.result.pages[method] = self.result.pages.get(method, 0) + 1
            yield page

    def _add(self, cid: str, msgs: list[dict[str, Any]]) -> None:
        for msg in msgs:
            key = (cid, msg["ts"])
            if key not in self._seen:
                if self.keep_rows:
                    msg["channel_id"] = cid
                self._seen[key] = msg if self.keep_rows else None

    async def run(self) -> FetchResult:
        t0 = time.perf_counter()
        channels: list[dict[str, Any]] = []
        try:
            async for page in self._pages(
                "conversations.list",
                types="public_channel,private_channel,im,mpim",
                exclude_archived="false",
            ):
                channels.extend(page.get("channels") or [])
        except Exception as exc:  # noqa: BLE001 - recorded, the run is then empty
            self.result.failed.append(f"conversations.list: {_describe(exc)}")
        created = {c["id"]: int(c.get("created") or 0) for c in channels}
        readable = sorted(c["id"] for c in channels if c.get("is_member") or c.get("is_im"))
        if self.only_channels is not None:
            readable = [cid for cid in readable if cid in self.only_channels]
        if self.max_channels is not None:
            readable = readable[: self.max_channels]
        self.result.channels = len(readable)
        self.result.channel_ids = readable
        self.result.critical_path = 1 if channels else 0
        gate = asyncio.Semaphore(self.channel_concurrency)
        async with asyncio.TaskGroup() as tg:
            for cid in readable:
                for window in self._windows(created[cid]):
                    tg.create_task(self._channel(cid, window, gate, tg))
        self.result.wall_s = time.perf_counter() - t0
        self.result.messages = len(self._seen)
        if self.keep_rows:
            self.result.rows = [m for m in self._seen.values() if m is not None]
        return self.result

    def _depth(self, depth: int) -> None:
        self.result.critical_path = max(self.result.critical_path, depth)

    def _windows(self, created: int) -> list[dict[str, str]]:
        """History bounds: one window (the whole history), or `history_windows` equal time
        ranges from the channel's creation to now, read concurrently (inclusive bounds;
        a message on a boundary is read twice and counted once)."""
        n = self.history_windows
        if n == 1:
            return [{}]
        start, end = created, int(time.time()) + 1
        edges = [start + (end - start) * i // n for i in range(n + 1)]
        out = []
        for i in range(n):
            window = {"inclusive": "true", "oldest": "0" if i == 0 else f"{edges[i]}.000000"}
            if i < n - 1:
                window["latest"] = f"{edges[i + 1]}.000000"
            out.append(window)
        return out

    async def _channel(
        self, cid: str, window: dict[str, str], gate: asyncio.Semaphore, tg: asyncio.TaskGroup
    ) -> None:
        async with gate:
            depth = 1  # conversations.list
            try:
                async for page in self._pages("conversations.history", channel=cid, **window):
                    depth += 1
                    self._depth(depth)
                    msgs = page.get("messages") or []
                    self._add(cid, msgs)
                    for msg in msgs:
                        if msg.get("reply_count") and msg.get("thread_ts") == msg["ts"]:
                            tg.create_task(self._replies(cid, msg["ts"], depth))
            except Exception as exc:  # noqa: BLE001 - recorded per call
                self.result.failed.append(f"history {cid}: {_describe(exc)}")

    async def _replies(self, cid: str, parent_ts: str, depth: int) -> None:
        try:
            async for page in self._pages("conversations.replies", channel=cid, ts=parent_ts):
                depth += 1
                self._depth(depth)
                self._add(cid, page.get("messages") or [])
        except Exception as exc:  # noqa: BLE001 - recorded per call
            self.result.failed.append(f"replies {cid}/{parent_ts}: {_describe(exc)}")


async def backfill(pager: Pager, **kwargs: Any) -> FetchResult:
    return await Backfill(pager, **kwargs).run()
