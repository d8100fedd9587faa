"""Shared helpers: quiet environment, budget lower bounds, simulator-stat digests."""

from __future__ import annotations

import os
import time
from typing import Any

QUIET_ENV = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "DO_NOT_TRACK": "1",
    "RUNTIME__DLTHUB_TELEMETRY": "false",
    "RUNTIME__LOG_LEVEL": "WARNING",
    # loads are measured without the analytics models after them (the `models` scenario
    # measures those on their own)
    "SLACK_INGEST__MODELS": "no",
}


def quiet_env() -> None:
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)


def rate_per_s(profile: str, method: str, time_scale: float) -> float | None:
    """The client's paced rate for `method`, in requests per real second."""
    from ingest.slack import resolve_budget

    budget = resolve_budget(profile, method)
    if budget.rate_per_min is None:
        return None
    return budget.rate_per_min * time_scale / 60.0


def lower_bound(requests: dict[str, int], profile: str, time_scale: float) -> dict[str, Any]:
    """Shortest possible wall time by the client's own table: for each method
    (requests - burst) / rate; the largest over methods bounds the run."""
    from ingest.slack import resolve_budget

    per_method: dict[str, float] = {}
    for method, n in requests.items():
        budget = resolve_budget(profile, method)
        if budget.rate_per_min is None or n <= 0:
            continue
        per_method[method] = max(0, n - budget.burst) / (budget.rate_per_min * time_scale / 60.0)
    bound = max(per_method.values(), default=0.0)
    binding = max(per_method, key=lambda m: per_method[m]) if per_method else None
    return {
        "lower_bound_s": round(bound, 4),
        "binding_method": binding,
        "per_method_lower_bound_s": {k: round(v, 4) for k, v in per_method.items()},
    }


def method_requests(
    stats: dict[str, Any], methods: tuple[str, ...] | None = None
) -> dict[str, int]:
    rows = stats.get("methods", {})
    return {
        m: int(r.get("requests", 0))
        for m, r in sorted(rows.items())
        if methods is None or m in methods
    }


def method_429s(stats: dict[str, Any]) -> dict[str, int]:
    return {
        m: int(r.get("n_429", 0))
        for m, r in sorted(stats.get("methods", {}).items())
        if r.get("n_429")
    }


def settle(time_scale: float) -> None:
    """Let the simulator's buckets refill (one Slack minute, at least 1 real second)."""
    time.sleep(max(1.0, 60.0 / time_scale))


def reset_client_buckets() -> None:
    from ingest.slack import reset_buckets

    reset_buckets()


def ratio(num: float | None, den: float | None, digits: int = 3) -> float | None:
    if num is None or den is None or den == 0:
        return None
    return round(num / den, digits)
