"""`latency`: what concurrency buys when every request costs a round trip.

Limits lifted (profile `unlimited`), 100 ms added to every response by the simulator; a
backfill (history + replies of every thread) at 1, 4, 16 and 64 requests in flight.
`msgs_per_s` = unique messages fetched / wall time; `speedup_64` = 64 vs 1.

Headline: the loader's own fan-out (`ingest.source.fanout.HistoryFanout`, fetch only, no
dlt) with `max_in_flight` = `max_concurrent_channels` = the level. Full runs add the
benchmark's plain fan-out (`harness`, the `budget` scenario's shape) and a `windowed` one.

Cursor pagination chains a channel's history pages one after another, so no amount of
concurrency beats `critical_path_requests` x latency: `ideal_speedup_64` =
min(64, requests / critical path) says what the workload allows. The `windowed` run reads
each channel's history as `HISTORY_WINDOWS` time ranges at once (what a fan-out could do
for big channels) to show the client's side of it when the chain is short.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from benchmarks.common import ratio, reset_client_buckets
from benchmarks.fetch import FetchResult, backfill, fanout_message_keys
from benchmarks.simproc import SimProcess

LATENCY_MS = 100.0
LEVELS = (1, 4, 16, 64)
SIZES = {False: "small", True: "small"}
HISTORY_WINDOWS = 4


async def _fetch(sim: SimProcess, in_flight: int, windows: int) -> FetchResult:
    from ingest.slack import AsyncSlackClient

    client = AsyncSlackClient(
        sim.token, base_url=sim.base_url, profile="unlimited", max_in_flight=in_flight
    )
    async with client:
        return await backfill(client.paginate, channel_concurrency=10_000, history_windows=windows)


def _levels(sim: SimProcess, windows: int) -> dict[str, Any]:
    levels: dict[str, Any] = {}
    rates: dict[str, float] = {}
    for level in LEVELS:
        reset_client_buckets()
        result = asyncio.run(_fetch(sim, level, windows))
        rate = result.messages / result.wall_s if result.wall_s else 0.0
        rates[str(level)] = round(rate, 1)
        requests = sum(result.pages.values())
        levels[str(level)] = {
            **result.summary(sim.messages),
            "requests": requests,
            "msgs_per_s": round(rate, 1),
        }
    first = levels[str(LEVELS[0])]
    return {
        "levels": levels,
        "msgs_per_s": rates,
        "speedup_64": ratio(rates.get("64"), rates.get("1"), 2),
        "ideal_speedup_64": round(
            min(64, first["requests"] / max(1, first["critical_path_requests"])), 2
        ),
    }


def _engine(sim: SimProcess, ids: list[str], in_flight: int) -> dict[str, Any]:
    from ingest.source import HistoryFanout, LoadSettings

    settings = LoadSettings(
        base_url=sim.base_url,
        profile="unlimited",
        lookback_days=36500.0,
        max_concurrent_channels=in_flight,
        max_in_flight=in_flight,
    ).validate()
    reset_client_buckets()
    t0 = time.perf_counter()
    keys = fanout_message_keys(HistoryFanout(sim.token, settings, ids, {}))
    wall = time.perf_counter() - t0
    return {
        "wall_s": round(wall, 3),
        "messages": len(keys),
        "complete": len(keys) == sim.messages,
        "msgs_per_s": round(len(keys) / wall, 1),
    }


def _engine_levels(sim: SimProcess) -> dict[str, Any]:
    from benchmarks.budget_use import fetch_readable_ids

    ids = fetch_readable_ids(sim, "unlimited", 1.0)
    levels = {str(level): _engine(sim, ids, level) for level in LEVELS}
    rates = {k: v["msgs_per_s"] for k, v in levels.items()}
    return {
        "levels": levels,
        "msgs_per_s": rates,
        "speedup_64": ratio(rates.get("64"), rates.get("1"), 2),
    }


def run(quick: bool) -> dict[str, Any]:
    size = SIZES[quick]
    out: dict[str, Any] = {
        "size": size,
        "latency_ms": LATENCY_MS,
        "measured": "ingest.source.fanout.HistoryFanout (fetch only)",
    }
    with SimProcess(size, profile="unlimited", latency_ms=LATENCY_MS) as sim:
        out.update(_engine_levels(sim))
        if quick:
            probe = asyncio.run(_fetch(sim, 64, 1))
            out["ideal_speedup_64"] = round(
                min(64, sum(probe.pages.values()) / max(1, probe.critical_path)), 2
            )
            out["critical_path_requests"] = probe.critical_path
        else:
            harness = _levels(sim, 1)
            out["harness"] = harness
            out["ideal_speedup_64"] = harness["ideal_speedup_64"]
            out["critical_path_requests"] = harness["levels"]["1"]["critical_path_requests"]
            windowed = _levels(sim, HISTORY_WINDOWS)
            out["windowed"] = {"history_windows": HISTORY_WINDOWS, **windowed}
            out["speedup_64_windowed"] = windowed["speedup_64"]
    return out
