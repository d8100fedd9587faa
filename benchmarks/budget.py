"""`budget`: how full the Slack budget is kept, and the same fetch by slack-sdk.

A backfill of a workspace (history + every thread's replies) against the simulator under
a rate-limit profile at a time scale, three ways in one simulator process:

1. ours: `AsyncSlackClient` under the benchmark's fan-out (`benchmarks.fetch`);
2. engine: the loader's own fan-out (`ingest.source.fanout.HistoryFanout`), fetch only;
3. peer: slack-sdk's `AsyncWebClient` + its 429 retry handler, same fan-out, same
   concurrency (stock handler first, then the time-scaled one: see benchmarks/peer.py).

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
from benchmarks.fetch import FETCH_METHODS, FetchResult, backfill
from benchmarks.peer import SdkPeer
from benchmarks.simproc import SimProcess

CHANNEL_CONCURRENCY = 16
MAX_IN_FLIGHT = 32
PEER_MAX_RETRY_COUNT = 50

#: Filled by `run`, reused by the `peer_client` scenario in the same process.
LAST: dict[str, Any] = {}


def _digest(sim: SimProcess, fetch: FetchResult, profile: str, time_scale: float,
            wall_s: float | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    stats = sim.stats(timeline=True)
    requests = method_requests(stats, FETCH_METHODS)
    wall = fetch.wall_s if wall_s is None else wall_s
    bound = lower_bound(requests, profile, time_scale)
    out = {
        "wall_s": round(wall, 4),
        **bound,
        "efficiency": ratio(bound["lower_bound_s"], wall),
        "n_429": int(stats.get("totals", {}).get("n_429", 0)),
        "n_429_by_method": method_429s(stats),
        "requests": requests,
        "fetch": fetch.summary(sim.messages),
    }
    return out, stats


async def _ours(sim: SimProcess, profile: str, time_scale: float) -> tuple[FetchResult, dict]:
    from ingest.slack import AsyncSlackClient

    client = AsyncSlackClient(sim.token, base_url=sim.base_url, profile=profile,
                              time_scale=time_scale, max_in_flight=MAX_IN_FLIGHT)
    async with client:
        await asyncio.to_thread(sim.reset_stats)
        result = await backfill(client.paginate, channel_concurrency=CHANNEL_CONCURRENCY)
        return result, client.stats.as_dict()


def _engine(sim: SimProcess, profile: str, time_scale: float,
            channel_ids: list[str]) -> tuple[float, int]:
    from ingest.source import LoadSettings
    from ingest.source.fanout import HistoryFanout

    settings = LoadSettings(base_url=sim.base_url, profile=profile, time_scale=time_scale,
                            lookback_days=36500.0, max_concurrent_channels=CHANNEL_CONCURRENCY,
                            max_in_flight=MAX_IN_FLIGHT).validate()
    fan = HistoryFanout(sim.token, settings, channel_ids, {})
    sim.reset_stats()
    t0 = time.perf_counter()
    rows = 0
    for item in fan.items():
        if item[0] == "rows":
            rows += len(item[1])
    return time.perf_counter() - t0, rows


async def _peer(sim: SimProcess, profile: str, time_scale: float, *, stock: bool,
                timeout_s: float) -> FetchResult:
    from ingest.slack import resolve_page_size

    peer = SdkPeer(sim.token, sim.base_url, max_in_flight=MAX_IN_FLIGHT,
                   max_retry_count=PEER_MAX_RETRY_COUNT, time_scale=time_scale, stock=stock)
    async with peer as pager:
        await asyncio.to_thread(sim.reset_stats)
        # the page sizes our client sends, so both make the same requests
        limits = {m: resolve_page_size(profile, m) for m in FETCH_METHODS}
        return await asyncio.wait_for(
            backfill(pager, channel_concurrency=CHANNEL_CONCURRENCY, limits=limits), timeout_s)


def _timeline(stats: dict[str, Any]) -> list[list[Any]]:
    return [list(row) for row in stats.get("timeline") or []]


def measure(size: str, *, profile: str = "internal", time_scale: float = 60.0,
            engine: bool = True, peer: bool = True, stock_peer: bool = True,
            peer_timeout_s: float = 600.0) -> dict[str, Any]:
    """The figures of the `budget` scenario for one workspace size and time scale."""
    from ingest.slack import resolve_page_size

    out: dict[str, Any] = {
        "size": size, "profile": profile, "time_scale": time_scale,
        "settings": {"channel_concurrency": CHANNEL_CONCURRENCY,
                     "max_in_flight": MAX_IN_FLIGHT,
                     "page_sizes": {m: resolve_page_size(profile, m) for m in FETCH_METHODS}},
    }
    plot: dict[str, Any] = {"profile": profile, "time_scale": time_scale}
    with SimProcess(size, profile=profile, time_scale=time_scale) as sim:
        out["workspace"] = {k: v for k, v in sim.hello.items()
                            if k not in ("token", "base_url", "url")}
        reset_client_buckets()
        fetch, client_stats = asyncio.run(_ours(sim, profile, time_scale))
        ours, stats = _digest(sim, fetch, profile, time_scale)
        out.update(ours)
        out["client_stats"] = {m: {k: client_stats[m][k] for k in
                                   ("requests", "n_429", "retries", "wait_budget_s",
                                    "wait_network_s")}
                               for m in client_stats if m in FETCH_METHODS}
        plot["ours"] = _timeline(stats)

        if engine:
            settle(time_scale)
            reset_client_buckets()
            wall, rows = _engine(sim, profile, time_scale, fetch.channel_ids)
            eng, _ = _digest(sim, FetchResult(wall_s=wall), profile, time_scale)
            out["engine_fanout"] = {**{k: eng[k] for k in
                                       ("wall_s", "lower_bound_s", "binding_method",
                                        "efficiency", "n_429", "requests")},
                                    "rows": rows}

        if peer:
            out.update(_peer_figures(sim, profile, time_scale, stock_peer, peer_timeout_s,
                                     plot))
            out["peer_ratio"] = ratio(out.get("peer_wall_s"), out["wall_s"])
    out["_plot"] = plot
    return out


def _peer_figures(sim: SimProcess, profile: str, time_scale: float, stock_peer: bool,
                  timeout_s: float, plot: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"peer_max_retry_count": PEER_MAX_RETRY_COUNT}
    if stock_peer:
        settle(time_scale)
        try:
            stock = asyncio.run(_peer(sim, profile, time_scale, stock=True, timeout_s=timeout_s))
            stats = sim.stats()
            out["peer_stock"] = {**stock.summary(sim.messages),
                                 "n_429": int(stats.get("totals", {}).get("n_429", 0)),
                                 "note": "slack-sdk's stock AsyncRateLimitErrorRetryHandler "
                                         "parses Retry-After with int(); the simulator's "
                                         "time-scaled Retry-After is fractional"}
        except TimeoutError:
            out["peer_stock"] = {"error": f"timed out after {timeout_s}s"}
    settle(time_scale)
    try:
        fetch = asyncio.run(_peer(sim, profile, time_scale, stock=False, timeout_s=timeout_s))
    except TimeoutError:
        out["peer_error"] = f"timed out after {timeout_s}s"
        return out
    peer, stats = _digest(sim, fetch, profile, time_scale)
    out.update({
        "peer_wall_s": peer["wall_s"],
        "peer_n_429": peer["n_429"],
        "peer_n_429_by_method": peer["n_429_by_method"],
        "peer_requests": peer["requests"],
        "peer_fetch": peer["fetch"],
        "peer_handler": "ScaledRateLimitRetryHandler (slack-sdk's handler, float Retry-After, "
                        "jitter / time_scale)",
    })
    plot["peer"] = _timeline(stats)
    return out


SIZES = {False: ("small", 60.0), True: ("small", 60.0)}


def run(quick: bool) -> dict[str, Any]:
    size, time_scale = SIZES[quick]
    result = measure(size, profile="internal", time_scale=time_scale)
    LAST.clear()
    LAST.update(result, quick=quick)
    return result
