"""Per-method client statistics, safe to update from any thread."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from typing import Any

__all__ = ["ClientStats", "MethodStats"]


@dataclass
class MethodStats:
    requests: int = 0  # HTTP requests sent (every attempt, 429s and failures included)
    pages: int = 0  # pages yielded by paginate()
    items: int = 0  # elements of the main collection (messages, channels, members...)
    n_429: int = 0
    retries: int = 0  # attempts after the first, for any reason (429 included)
    errors: int = 0  # failed attempts other than 429 (transient or final)
    wait_budget_s: float = 0.0  # waiting to send: budget slot, 429 blocks, in-flight cap
    wait_network_s: float = 0.0  # time from sending a request to having its body
    wait_retry_s: float = 0.0  # backoff sleeps after transient failures
    current_rate_per_min: float | None = None  # the bucket's pace now (None = unlimited)


class ClientStats:
    """``client.stats``: one ``MethodStats`` per method, under a lock."""

    _COUNTERS = ("requests", "pages", "items", "n_429", "retries", "errors")
    _TIMERS = ("wait_budget_s", "wait_network_s", "wait_retry_s")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._methods: dict[str, MethodStats] = {}

    def _get(self, method: str) -> MethodStats:
        stats = self._methods.get(method)
        if stats is None:
            stats = self._methods[method] = MethodStats()
        return stats

    def add(self, method: str, **amounts: float) -> None:
        """Add to counters/timers, e.g. ``add("users.list", requests=1, wait_network_s=0.2)``."""
        with self._lock:
            stats = self._get(method)
            for name, amount in amounts.items():
                if name not in self._COUNTERS and name not in self._TIMERS:
                    raise KeyError(name)
                setattr(stats, name, getattr(stats, name) + amount)

    def set_rate(self, method: str, rate_per_min: float | None) -> None:
        with self._lock:
            self._get(method).current_rate_per_min = rate_per_min

    def get(self, method: str) -> MethodStats:
        """A copy of one method's stats (zeros if never called)."""
        with self._lock:
            stats = self._methods.get(method)
            return MethodStats(**asdict(stats)) if stats else MethodStats()

    def totals(self) -> dict[str, float]:
        with self._lock:
            out: dict[str, float] = {name: 0 for name in self._COUNTERS}
            out.update({name: 0.0 for name in self._TIMERS})
            for stats in self._methods.values():
                for name in (*self._COUNTERS, *self._TIMERS):
                    out[name] += getattr(stats, name)
            return out

    def as_dict(self) -> dict[str, dict[str, Any]]:
        """``{method: {requests, pages, items, n_429, retries, errors, wait_budget_s,
        wait_network_s, wait_retry_s, current_rate_per_min, current_rate}}`` (``current_rate`` is an alias
        kept for docs/DESIGN.md)."""
        with self._lock:
            out: dict[str, dict[str, Any]] = {}
            for method, stats in sorted(self._methods.items()):
                row = asdict(stats)
                for name in self._TIMERS:
                    row[name] = round(row[name], 6)
                row["current_rate"] = row["current_rate_per_min"]
                out[method] = row
            return out

    def __repr__(self) -> str:
        return f"ClientStats({self.totals()})"
