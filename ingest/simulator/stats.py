"""Per-method request statistics, overall and per team (read from other threads: all under a lock).

Per team because Slack's budgets are per workspace: a benchmark of an Enterprise Grid
org compares each workspace's requests with that workspace's floor.
"""

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


def _seen(m: _Method, t: float, window_s: float) -> None:
    """Count one arrival at t in m (requests, first/last, sliding window)."""
    m.requests += 1
    if m.first_at is None:
        m.first_at = t
    m.last_at = t
    w = m.window
    w.append(t)
    while w and w[0] <= t - window_s:
        w.popleft()
    if len(w) > m.max_window:
        m.max_window = len(w)


def _fields(m: _Method) -> dict[str, Any]:
    return {
        "requests": m.requests,
        "n_429": m.n_429,
        "errors": m.errors,
        "first_at": m.first_at,
        "last_at": m.last_at,
        "items": m.items,
    }


def _totals(methods: dict[str, dict[str, Any]]) -> dict[str, int]:
    return {
        k: sum(m[k] for m in methods.values()) for k in ("requests", "n_429", "errors", "items")
    }


class Stats:
    """Counters per method; times are seconds since the last reset (monotonic clock).

    `max_window[m]` is the most requests of m seen in any sliding window of one
    Slack-minute (60 / time_scale real seconds), 429s included. The same counters are
    kept per team for requests attributed to one (`team` of arrive/finish): the team a
    request's rate limit counts against.
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
            self._teams: dict[str, dict[str, _Method]] = {}
            self._faults: dict[str, int] = {}
            self._timeline: deque[tuple[float, str, int]] = deque(maxlen=self._timeline_max)

    def _team_method(self, team: str, method: str) -> _Method:
        methods = self._teams.get(team)
        if methods is None:
            methods = self._teams[team] = {}
        m = methods.get(method)
        if m is None:
            m = methods[method] = _Method()
        return m

    def arrive(self, method: str, team: str | None = None) -> float:
        """Count a request reaching the method handler; returns its arrival time."""
        now = time.monotonic()
        with self._lock:
            t = now - self._t0
            m = self._methods.get(method)
            if m is None:
                m = self._methods[method] = _Method()
            _seen(m, t, self.window_s)
            if team:
                _seen(self._team_method(team, method), t, self.window_s)
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
        team: str | None = None,
    ) -> None:
        """Record the outcome of a request that arrived at t (status 0 = connection reset)."""
        with self._lock:
            m = self._methods.get(method)
            if m is None:
                m = self._methods[method] = _Method()
            ms = [m, self._team_method(team, method)] if team else [m]
            for x in ms:
                x.n_429 += ratelimited
                x.errors += error
                x.items += items
            if fault:
                self._faults[fault] = self._faults.get(fault, 0) + 1
            self._timeline.append((round(t, 6), method, status))

    def snapshot(self, timeline: bool = False) -> dict[str, Any]:
        with self._lock:
            methods = {name: _fields(m) for name, m in self._methods.items()}
            teams: dict[str, Any] = {}
            for team, tms in self._teams.items():
                per = {name: _fields(m) for name, m in tms.items()}
                teams[team] = {
                    **_totals(per),
                    "methods": per,
                    "max_window": {name: m.max_window for name, m in tms.items()},
                }
            out: dict[str, Any] = {
                "methods": methods,
                "totals": _totals(methods),
                "teams": teams,
                "max_window": {name: m.max_window for name, m in self._methods.items()},
                "window_s": self.window_s,
                "faults": dict(self._faults),
                "t0_unix": self._t0_unix,
                "elapsed_s": time.monotonic() - self._t0,
            }
            if timeline:
                out["timeline"] = [list(e) for e in self._timeline]
            return out
