"""`latency`: what concurrency buys when every request costs a round trip.

Limits lifted (profile `unlimited`), 100 ms added to every response by the simulator;
the same backfill (history + replies of every thread) at 1, 4, 16 and 64 requests in flight
(the client's `max_in_flight`; every channel may run at once, so the client's cap is the
only limit). `msgs_per_s` = unique messages fetched / wall time; `speedup_64` = 64 vs 1.
"""

from __future__ import annotations

import asyncio
from typing import Any

from benchmarks.common import ratio, reset_client_buckets
from benchmarks.fetch import FetchResult, backfill
from benchmarks.simproc import SimProcess

LATENCY_MS = 100.0
LEVELS = (1, 4, 16, 64)
SIZES = {False: "small", True: "small"}
#: quick mode reads only this many channels (same shape, fewer requests at 1 in flight)
QUICK_CHANNELS = 8


async def _fetch(sim: SimProcess, in_flight: int, max_channels: int | None) -> FetchResult:
    from ingest.slack import AsyncSlackClient

    client = AsyncSlackClient(sim.token, base_url=sim.base_url, profile="unlimited",
                              max_in_flight=in_flight)
    async with client:
        return await backfill(client.paginate, channel_concurrency=10_000,
                              max_channels=max_channels)


def run(quick: bool) -> dict[str, Any]:
    size = SIZES[quick]
    max_channels = QUICK_CHANNELS if quick else None
    out: dict[str, Any] = {"size": size, "latency_ms": LATENCY_MS,
                           "max_channels": max_channels, "levels": {}}
    rates: dict[str, float] = {}
    with SimProcess(size, profile="unlimited", latency_ms=LATENCY_MS) as sim:
        for level in LEVELS:
            reset_client_buckets()
            sim.reset_stats()
            result = asyncio.run(_fetch(sim, level, max_channels))
            stats = sim.stats()
            rate = result.messages / result.wall_s if result.wall_s else 0.0
            rates[str(level)] = round(rate, 1)
            out["levels"][str(level)] = {
                **result.summary(None if max_channels else sim.messages),
                "requests": int(stats.get("totals", {}).get("requests", 0)),
                "msgs_per_s": round(rate, 1),
            }
    out["msgs_per_s"] = rates
    out["speedup_64"] = ratio(rates.get("64"), rates.get("1"), 2)
    return out
