"""Per-method request statistics (read from other threads: everything under a lock)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

TIMELINE_MAX = 2_000_000


@dataclass
class _Method:
    requests: int = 0
    n_429: int = 0
    errors: int = 0
    first_at: float | None = None
    last_at: float | None = None
    items: int = 0
    max_window: int = 0

    def __post_init__(self) -> None:
        self.window: deque[float] = deque()


class Stats:
    """Counters per method; times are seconds since the last reset (monotonic clock).

    `max_window[m]` is the most requests of m seen in any sliding window of one
    Slack-minute (60 / time_scale real seconds), 429s included.
    """

    def __init__(self, time_scale: float, timeline_max: int = TIMELINE_MAX) -> None:
        self.window_s = 60.0 / time_scale
        self._timeline_max = timeline_max
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._t0 = time.monotonic()
            self._t0_unix = time.time()
            self._methods: dict[str, _Method] = {}
            self._faults: dict[str, int] = {}
            self._timeline: deque[tuple[float, str, int]] = deque(maxlen=self._timeline_max)

    def arrive(self, method: str) -> float:
        """Count a request reaching the method handler; returns its arrival time."""
        now = time.monotonic()
        with self._lock:
            t = now - self._t0
            m = self._methods.get(method)
            if m is None:
                m = self._methods[method] = _Method()
            m.requests += 1
            if m.first_at is None:
                m.first_at = t
            m.last_at = t
            w = m.window
            w.append(t)
            while w and w[0] <= t - self.window_s:
                w.popleft()
            if len(w) > m.max_window:
                m.max_window = len(w)
            return t

    def finish(
        self,
        method: str,
        t: float,
        status: int,
        *,
        ratelimited: bool = False,
        error: bool = False,
        items: int = 0,
        fault: str | None = None,
    ) -> None:
        """Record the outcome of a request that arrived at t (status 0 = connection reset)."""
        with self._lock:
            m = self._methods.get(method)
            if m is None:
                m = self._methods[method] = _Method()
            m.n_429 += ratelimited
            m.errors += error
            m.items += items
            if fault:
                self._faults[fault] = self._faults.get(fault, 0) + 1
            self._timeline.append((round(t, 6), method, status))

    def snapshot(self, timeline: bool = False) -> dict[str, Any]:
        with self._lock:
            methods = {
                name: {
                    "requests": m.requests,
                    "n_429": m.n_429,
                    "errors": m.errors,
                    "first_at": m.first_at,
                    "last_at": m.last_at,
                    "items": m.items,
                }
                for name, m in self._methods.items()
            }
            out: dict[str, Any] = {
                "methods": methods,
                "totals": {
                    "requests": sum(m["requests"] for m in methods.values()),
                    "n_429": sum(m["n_429"] for m in methods.values()),
                    "errors": sum(m["errors"] for m in methods.values()),
                    "items": sum(m["items"] for m in methods.values()),
                },
                "max_window": {name: m.max_window for name, m in self._methods.items()},
                "window_s": self.window_s,
                "faults": dict(self._faults),
                "t0_unix": self._t0_unix,
                "elapsed_s": time.monotonic() - self._t0,
            }
            if timeline:
                out["timeline"] = [list(e) for e in self._timeline]
            return out
