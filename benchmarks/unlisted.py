"""`unlisted`: the budget scenario under Slack's 2025 rule for unlisted apps.

`conversations.history` and `conversations.replies` at 1 request per Slack minute with
`limit` 15. A high time scale keeps it short: at 600x a Slack minute lasts 100 ms (10
requests/s per method). Higher scales squeeze the interval below what a round trip to the
simulator reliably takes (the client keeps at most `burst` = 1 tier-1 request unanswered).
"""

from __future__ import annotations

from typing import Any

from benchmarks.budget_use import measure

SIZES = {False: ("small", 600.0), True: ("tiny", 600.0)}


def run(quick: bool) -> dict[str, Any]:
    size, time_scale = SIZES[quick]
    result = measure(size, profile="unlisted", time_scale=time_scale, engine=True, peer=False)
    result.pop("_plot", None)
    return result
