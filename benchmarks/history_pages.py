"""`history_pages`: should a backfill read history in pages of 999 rather than 200?

Backfills of the same workspace (`medium`; quick: `small`) into DuckDB through `run_load`,
one simulator process (profile `internal`, `TIME_SCALE`, a fixed `LATENCY_MS` added to
every response), with `LoadSettings(limits={"conversations.history": {"page_size": N}})`
for N = 200 (the default) and 999, side by side: the whole backfill (history + every
thread's replies) and the history alone (`replies=False`, where the history budget and
the per-channel page chain are what bound the wall). Per run: wall, requests per method,
429s, the budget floor per method (`common.lower_bound`) and the per-channel chain floor
(the longest channel's pages x latency), exactness of the keys against the truth.

The simulator's latency is per response, whatever its size: it does not model Slack's
slower (and sometimes timing out) 999-message pages, which the client meets by stepping
the limit down (`ingest/slack/client.py`, `step_down`).
"""

from __future__ import annotations

import math
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import (
    lower_bound,
    method_429s,
    method_requests,
    ratio,
    reset_client_buckets,
    settle,
)
from benchmarks.simproc import SimProcess

PROFILE = "internal"
TIME_SCALE = 60.0
LATENCY_MS = 200.0
SEED = 0
PAGES = (200, 999)
SIZES = {False: "medium", True: "small"}
#: Slack's Tier 3 (conversations.history), requests per minute
SLACK_HISTORY_RATE = 50.0


def _backfill(
    sim: SimProcess, page: int, replies: bool, workdir: Path, truth: Any, time_scale: float
) -> dict[str, Any]:
    from ingest.load.run import Target, run_load
    from ingest.load.verify import compare_with_truth
    from ingest.source import LoadSettings

    name = f"p{page}{'' if replies else '-history'}"
    target = Target(
        duckdb_path=str(workdir / f"{name}.duckdb"),
        dataset="slack",
        pipelines_dir=str(workdir / f"{name}-pipelines"),
        journal_path=str(workdir / "no-journal.sqlite"),
    )
    settings = LoadSettings(
        base_url=sim.base_url,
        profile=PROFILE,
        time_scale=time_scale,
        replies=replies,
        limits={"conversations.history": {"page_size": page}},
    ).validate()
    reset_client_buckets()
    settle(time_scale)
    sim.reset_stats()
    t0 = time.perf_counter()
    result = run_load(sim.token, settings, target)
    wall = time.perf_counter() - t0
    stats = sim.stats()
    requests = method_requests(stats)
    bound = lower_bound(requests, PROFILE, time_scale)
    out: dict[str, Any] = {
        "page_size": page,
        "replies": replies,
        "wall_s": round(wall, 3),
        "requests": requests,
        "n_429": sum(method_429s(stats).values()),
        "messages": int(result.row_counts.get("messages", 0)),
        **bound,
        "efficiency": ratio(bound["lower_bound_s"], wall),
    }
    if replies:
        check = compare_with_truth(target, truth)
        out["exact"] = bool(check["ok"])
        out["missing"] = check["messages"]["missing"]
        out["unexpected"] = check["messages"]["unexpected"]
    return out


def measure(
    size: str,
    *,
    time_scale: float = TIME_SCALE,
    latency_ms: float = LATENCY_MS,
    workdir: Path,
    history_only: bool = True,
) -> dict[str, Any]:
    from types import SimpleNamespace

    out: dict[str, Any] = {
        "size": size,
        "profile": PROFILE,
        "time_scale": time_scale,
        "slack_minutes_per_real_second": time_scale / 60.0,
        "latency_ms": latency_ms,
        "pages": list(PAGES),
    }
    with SimProcess(
        size, seed=SEED, profile=PROFILE, time_scale=time_scale, latency_ms=latency_ms
    ) as sim:
        raw = sim.truth()
        truth = SimpleNamespace(
            messages=frozenset(tuple(k) for k in raw["messages"]),
            channel_ids=frozenset(raw["channel_ids"]),
            user_ids=frozenset(raw["user_ids"]),
            members=frozenset(tuple(k) for k in raw["members"]),
        )
        out["messages"] = len(truth.messages)
        out["readable_channels"] = len(raw["readable_channel_ids"])
        full = {p: _backfill(sim, p, True, workdir, truth, time_scale) for p in PAGES}
        hist = (
            {p: _backfill(sim, p, False, workdir, truth, time_scale) for p in PAGES}
            if history_only
            else {}
        )
    # per-channel history counts from the 200-page backfill's warehouse (exact on keys)
    per_channel = _history_per_channel(workdir / "p200.duckdb")
    lat_s = latency_ms / 1000.0
    for p, fig in [*full.items(), *hist.items()]:
        fig["history_chain_floor_s"] = round(
            max((math.ceil(n / p) for n in per_channel.values()), default=0) * lat_s, 3
        )
    small, big = PAGES
    out["backfill"] = {str(p): f for p, f in full.items()}
    out["history_only"] = {str(p): f for p, f in hist.items()}
    out["wall_s"] = {str(p): f["wall_s"] for p, f in full.items()}
    out["history_requests"] = {
        str(p): f["requests"].get("conversations.history", 0) for p, f in full.items()
    }
    out["wall_ratio"] = ratio(full[small]["wall_s"], full[big]["wall_s"], 3)
    out["history_requests_ratio"] = ratio(
        out["history_requests"][str(small)], out["history_requests"][str(big)], 3
    )
    if hist:
        out["history_only_wall_ratio"] = ratio(hist[small]["wall_s"], hist[big]["wall_s"], 3)
    hist_msgs = sum(per_channel.values())
    out["history_messages"] = hist_msgs
    out["history_pages_minimum"] = {
        str(p): sum(max(1, math.ceil(n / p)) for n in per_channel.values()) for p in PAGES
    }
    out["at_slack_limits"] = {
        "computed_not_measured": True,
        "note": "history requests of this backfill at Slack's Tier 3 (50/min) alone, and "
        "scaled x(2,000,000 / messages) for a 2M-message workspace; replies (one call per "
        "thread) are the same for both page sizes and usually bind a backfill",
        "history_minutes": {
            str(p): round(out["history_requests"][str(p)] / SLACK_HISTORY_RATE, 1) for p in PAGES
        },
        "history_minutes_2m_messages": {
            str(p): round(
                out["history_requests"][str(p)]
                * (2_000_000 / max(1, out["messages"]))
                / SLACK_HISTORY_RATE,
                1,
            )
            for p in PAGES
        },
        "replies_minutes": round(
            full[small]["requests"].get("conversations.replies", 0) / SLACK_HISTORY_RATE, 1
        ),
    }
    return out


def _history_per_channel(db: Path) -> dict[str, int]:
    import duckdb

    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select channel_id, count(*) from slack.messages where not is_reply "
            "or subtype = 'thread_broadcast' group by channel_id"
        ).fetchall()
    finally:
        con.close()
    return {str(c): int(n) for c, n in rows}


def run(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-history-pages-") as tmp:
        return measure(SIZES[quick], workdir=Path(tmp))
