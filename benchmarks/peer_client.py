"""`peer_client`: slack-sdk's AsyncWebClient vs ours at the internal profile.

Reuses the `budget` scenario's measurement when it ran in the same invocation (same
simulator process, back to back); otherwise measures it (without the engine fan-out).
"""

from __future__ import annotations

from typing import Any

from benchmarks import budget_use

KEYS = (
    "size",
    "time_scale",
    "wall_s",
    "n_429",
    "peer_wall_s",
    "peer_n_429",
    "peer_complete",
    "peer_failed_calls",
    "peer_note",
    "peer_ratio",
    "peer_max_retry_count",
    "peer_handler",
    "peer_runs",
)


def run(quick: bool) -> dict[str, Any]:
    source = "budget scenario (same run)"
    result: dict[str, Any] = dict(budget_use.LAST) if budget_use.LAST.get("quick") == quick else {}
    if "peer_ratio" not in result:
        size, time_scale = budget_use.SIZES[quick]
        result = budget_use.measure(size, profile="internal", time_scale=time_scale, engine=False)
        source = "measured here"
    out = {k: result[k] for k in KEYS if k in result}
    out["source"] = source
    return out
