"""`budget`: how full the Slack budget is kept, and the same fetch by slack-sdk.

A backfill of a workspace (history + every thread's replies) against the simulator under
a rate-limit profile at a time scale, several ways, back to back in one simulator process
(each after one Slack minute of idle, so the simulator's buckets are full again):

1. ours: `AsyncSlackClient` (defaults) under the benchmark's fan-out (`benchmarks.fetch`);
2. engine: the loader's own fan-out (`ingest.source.fanout.HistoryFanout`), fetch only;
3. peer: slack-sdk's `AsyncWebClient` + its 429 retry handler, same fan-out, page sizes
   and concurrency (stock handler first, then at Slack time: see benchmarks/peer.py).

`efficiency` = lower_bound_s / wall_s, where lower_bound_s is, by the client's own budget
table, the largest over methods of (requests - burst) / rate.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.common import (
    lower_bound,
    method_429s,
    method_requests,
    ratio,
    reset_client_buckets,
    settle,
)
from benchmarks.fetch import FETCH_METHODS, FetchResult, backfill, fanout_message_keys
from benchmarks.peer import SdkPeer
from benchmarks.simproc import SimProcess

CHANNEL_CONCURRENCY = 16
MAX_IN_FLIGHT = 32
#: slack-sdk stops after 100 attempts whatever max_retry_count says (its loop's safety
#: counter; above 99 an exhausted call fails with a TypeError instead of SlackApiError)
PEER_MAX_RETRY_COUNT = 99
PEER_MODES = {
    "stock": "slack-sdk's AsyncRateLimitErrorRetryHandler as shipped",
    "whole": "slack-sdk's handler at Slack time: Retry-After rounded up to whole Slack "
    "seconds as Slack sends it, then int(Retry-After) + random() Slack seconds",
    "fractional": "slack-sdk's handler at Slack time with the simulator's fractional "
    "Retry-After (kinder to slack-sdk than real Slack)",
}

#: Filled by `run`, reused by the `peer_client` scenario in the same process.
LAST: dict[str, Any] = {}


def _digest(
    sim: SimProcess, fetch: FetchResult, profile: str, time_scale: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    stats = sim.stats(timeline=True)
    requests = method_requests(stats, FETCH_METHODS)
    bound = lower_bound(requests, profile, time_scale)
    out = {
        "wall_s": round(fetch.wall_s, 4),
        **bound,
        "efficiency": ratio(bound["lower_bound_s"], fetch.wall_s),
        "n_429": int(stats.get("totals", {}).get("n_429", 0)),
        "n_429_by_method": method_429s(stats),
        "requests": requests,
        "fetch": fetch.summary(sim.messages),
    }
    tail = _replies_tail(stats, profile, time_scale)
    if tail:
        tail["efficiency_vs_dependency_bound"] = ratio(tail["dependency_bound_s"], fetch.wall_s)
        out["replies_tail"] = tail
    return out, stats


def _replies_tail(stats: dict[str, Any], profile: str, time_scale: float) -> dict[str, Any]:
    """Replies can only be asked for threads history has shown: the replies left when the
    last history page is read take at least n x interval more. `dependency_bound_s` =
    (last history request - first request) + that tail; the client cannot beat it."""
    from benchmarks.common import rate_per_s

    rows = stats.get("timeline") or []
    if not rows:
        return {}
    t0 = min(float(r[0]) for r in rows)
    history = [float(r[0]) for r in rows if r[1] == "conversations.history"]
    rate = rate_per_s(profile, "conversations.replies", time_scale)
    if not history or rate is None:
        return {}
    last = max(history)
    after = sum(1 for r in rows if r[1] == "conversations.replies" and float(r[0]) > last)
    bound = (last - t0) + after / rate
    return {
        "history_done_s": round(last - t0, 4),
        "replies_after_history": after,
        "dependency_bound_s": round(bound, 4),
    }


async def _ours(
    sim: SimProcess, profile: str, time_scale: float, overrides: dict[str, Any] | None = None
) -> tuple[FetchResult, dict]:
    from ingest.slack import AsyncSlackClient

    client = AsyncSlackClient(
        sim.token,
        base_url=sim.base_url,
        profile=profile,
        time_scale=time_scale,
        max_in_flight=MAX_IN_FLIGHT,
        overrides=overrides,
    )
    async with client:
        await asyncio.to_thread(sim.reset_stats)
        result = await backfill(client.paginate, channel_concurrency=CHANNEL_CONCURRENCY)
        return result, client.stats.as_dict()


def _engine(
    sim: SimProcess, profile: str, time_scale: float, channel_ids: list[str]
) -> FetchResult:
    from ingest.source import HistoryFanout, LoadSettings

    settings = LoadSettings(
        base_url=sim.base_url,
        profile=profile,
        time_scale=time_scale,
        lookback_days=36500.0,
        max_concurrent_channels=CHANNEL_CONCURRENCY,
        max_in_flight=MAX_IN_FLIGHT,
    ).validate()
    fan = HistoryFanout(sim.token, settings, channel_ids, {})
    sim.reset_stats()
    t0 = time.perf_counter()
    keys = fanout_message_keys(fan)
    return FetchResult(
        wall_s=time.perf_counter() - t0, channels=len(channel_ids), messages=len(keys)
    )


async def _peer(
    sim: SimProcess, profile: str, time_scale: float, *, mode: str, timeout_s: float
) -> FetchResult:
    from ingest.slack import resolve_page_size

    peer = SdkPeer(
        sim.token,
        sim.base_url,
        max_in_flight=MAX_IN_FLIGHT,
        max_retry_count=PEER_MAX_RETRY_COUNT,
        time_scale=time_scale,
        mode=mode,
    )
    async with peer as pager:
        await asyncio.to_thread(sim.reset_stats)
        # the page sizes our client sends, so both make the same requests
        limits = {m: resolve_page_size(profile, m) for m in FETCH_METHODS}
        return await asyncio.wait_for(
            backfill(pager, channel_concurrency=CHANNEL_CONCURRENCY, limits=limits), timeout_s
        )


def fetch_readable_ids(sim: SimProcess, profile: str, time_scale: float) -> list[str]:
    """The channels whose history the token can read (one conversations.list call)."""
    from ingest.slack import AsyncSlackClient

    async def go() -> list[str]:
        async with AsyncSlackClient(
            sim.token, base_url=sim.base_url, profile=profile, time_scale=time_scale
        ) as client:
            ids: list[str] = []
            async for page in client.paginate(
                "conversations.list", types="public_channel,private_channel,im,mpim"
            ):
                ids.extend(
                    c["id"]
                    for c in page.get("channels") or []
                    if c.get("is_member") or c.get("is_im")
                )
            return sorted(ids)

    return asyncio.run(go())


def _timeline(stats: dict[str, Any]) -> list[list[Any]]:
    return [list(row) for row in stats.get("timeline") or []]


def _short(fig: dict[str, Any]) -> dict[str, Any]:
    keep = (
        "wall_s",
        "lower_bound_s",
        "binding_method",
        "efficiency",
        "n_429",
        "n_429_by_method",
        "requests",
    )
    out = {k: fig[k] for k in keep if k in fig}
    fetch = fig.get("fetch", {})
    out.update(
        {
            k: fetch[k]
            for k in ("messages", "complete", "failed_calls", "first_failure")
            if k in fetch
        }
    )
    return out


def measure(
    size: str,
    *,
    profile: str = "internal",
    time_scale: float = 60.0,
    engine: bool = True,
    peer: bool = True,
    peer_modes: tuple[str, ...] = ("stock", "whole", "fractional"),
    peer_timeout_s: float = 600.0,
) -> dict[str, Any]:
    """The figures of the `budget` scenario for one workspace size and time scale."""
    from ingest.slack import resolve_page_size

    out: dict[str, Any] = {
        "size": size,
        "profile": profile,
        "time_scale": time_scale,
        "settings": {
            "channel_concurrency": CHANNEL_CONCURRENCY,
            "max_in_flight": MAX_IN_FLIGHT,
            "page_sizes": {m: resolve_page_size(profile, m) for m in FETCH_METHODS},
        },
    }
    plot: dict[str, Any] = {"profile": profile, "time_scale": time_scale}
    with SimProcess(size, profile=profile, time_scale=time_scale) as sim:
        out["workspace"] = {
            k: v for k, v in sim.hello.items() if k not in ("token", "base_url", "url")
        }
        reset_client_buckets()
        fetch, client_stats = asyncio.run(_ours(sim, profile, time_scale))
        ours, stats = _digest(sim, fetch, profile, time_scale)
        out.update(ours)
        out["client_stats"] = {
            m: {
                k: client_stats[m][k]
                for k in (
                    "requests",
                    "n_429",
                    "retries",
                    "wait_budget_s",
                    "wait_network_s",
                    "current_rate_per_min",
                )
            }
            for m in client_stats
            if m in FETCH_METHODS
        }
        plot["ours"] = _timeline(stats)

        if engine:
            settle(time_scale)
            reset_client_buckets()
            eng, _ = _digest(
                sim, _engine(sim, profile, time_scale, fetch.channel_ids), profile, time_scale
            )
            out["engine_fanout"] = _short(eng)

        if peer:
            out.update(_peer_figures(sim, profile, time_scale, peer_modes, peer_timeout_s, plot))
            out["peer_ratio"] = ratio(out.get("peer_wall_s"), out["wall_s"])
    out["_plot"] = plot
    return out


def _peer_figures(
    sim: SimProcess,
    profile: str,
    time_scale: float,
    modes: tuple[str, ...],
    timeout_s: float,
    plot: dict[str, Any],
) -> dict[str, Any]:
    out: dict[str, Any] = {"peer_max_retry_count": PEER_MAX_RETRY_COUNT, "peer_runs": {}}
    for mode in modes:
        settle(time_scale)
        try:
            fetch = asyncio.run(_peer(sim, profile, time_scale, mode=mode, timeout_s=timeout_s))
        except TimeoutError:
            out["peer_runs"][mode] = {"error": f"timed out after {timeout_s}s"}
            continue
        fig, stats = _digest(sim, fetch, profile, time_scale)
        out["peer_runs"][mode] = {**_short(fig), "handler": PEER_MODES[mode]}
        if mode == "whole":
            plot["peer"] = _timeline(stats)
            out.update(
                {
                    "peer_wall_s": fig["wall_s"],
                    "peer_n_429": fig["n_429"],
                    "peer_complete": fig["fetch"].get("complete"),
                    "peer_failed_calls": fig["fetch"].get("failed_calls"),
                    "peer_handler": PEER_MODES[mode],
                }
            )
            if not fig["fetch"].get("complete"):
                out["peer_note"] = (
                    f"slack-sdk gave up on {fig['fetch'].get('failed_calls')} calls (still "
                    f"429 after {PEER_MAX_RETRY_COUNT + 1} attempts) and fetched "
                    f"{fig['fetch'].get('messages')} of {sim.messages} messages: its wall "
                    "time covers an incomplete fetch"
                )
    return out


SIZES = {False: ("small", 60.0), True: ("small", 60.0)}


def run(quick: bool) -> dict[str, Any]:
    size, time_scale = SIZES[quick]
    result = measure(
        size,
        profile="internal",
        time_scale=time_scale,
        peer_modes=("stock", "whole") if quick else ("stock", "whole", "fractional"),
    )
    LAST.clear()
    LAST.update(result, quick=quick)
    return result
