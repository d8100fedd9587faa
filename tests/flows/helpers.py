"""Running the flow against a simulator and measuring what it did."""

from __future__ import annotations

from typing import Any

from ingest.load.run import Target


def flow_kwargs(sim: Any, target: Target, **kw: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "base_url": sim.base_url,
        "profile": "internal",
        "time_scale": 60.0,
        "duckdb_path": target.duckdb_path,
        "dataset": target.dataset,
        "pipelines_dir": target.pipelines_dir,
        "lookback_days": 36500.0,
        "retry_backoff_s": 0.2,
    }
    base.update(kw)
    return base


def run_flow(sim: Any, target: Target, **kw: Any) -> dict[str, Any]:
    from flows.pipeline import slack_pipeline

    return slack_pipeline(**flow_kwargs(sim, target, **kw))


def max_overlap(intervals: list[tuple[float, float]]) -> int:
    """Most intervals open at one instant (an end at t closes before a start at t)."""
    events = sorted(
        [(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals],
        key=lambda ev: (ev[0], ev[1]),
    )
    best = cur = 0
    for _, delta in events:
        cur += delta
        best = max(best, cur)
    return best


def shard_intervals(summary: dict[str, Any]) -> list[tuple[float, float]]:
    return [(s["started_at"], s["ended_at"]) for s in summary["shards"]]


def requests_of(summary: dict[str, Any], method: str) -> int:
    return int((summary["requests"].get(method) or {}).get("requests", 0))
