"""``Bucket``: the pacing of one (workspace, method), shared by every thread and event loop.

It composes three pieces, each in its own module:

* ``Gcra`` (``gcra.py``): the reservation schedule. ``reserve_ticket()`` takes the next free
  slot atomically (under a ``threading.Lock``) and the caller sleeps until it in its *own*
  event loop, so one bucket serves coroutines of one loop and Prefect tasks that
  ``.submit()`` runs each in its own thread and loop alike: nobody sleeps under the lock,
  slots are handed out in arrival order and the schedule never drifts.
* ``InFlightGate`` (``gate.py``): at most ``burst`` requests of a method *scheduled or
  unanswered* at once (``start``/``finish`` around reserve-sleep-send-answer). A request's
  arrival at the server is only known to lie between its send and its answer; when the
  server stalls, requests sent on schedule arrive bunched, and a server bucket that was full
  before the stall absorbs no more than its capacity of them. With normal latencies the cap
  costs no throughput.
* ``AdaptiveRate`` (``adaptive.py``): lowers the rate when 429s keep coming, recovers it.

The bucket itself adds the 429 block (a shared ``blocked_until``: the next slot is then, and
one per interval after it; holders of earlier slots re-check ``is_clear`` after their sleep)
and late answers: ``on_answer(ticket)`` re-charges a request (and everything reserved after
it) at its answer time when that is later than the schedule allowed, since the server counts
a request when it arrives, not when we sent it.

Rates are per Slack minute; ``time_scale`` multiplies them (60 => a minute lasts 1 s).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from typing import Any

from ingest.slack.limits import Budget
from ingest.slack.pacing.adaptive import AdaptivePolicy, AdaptiveRate
from ingest.slack.pacing.gate import InFlightGate
from ingest.slack.pacing.gcra import Gcra

__all__ = ["Bucket", "Clock"]

Clock = Callable[[], float]


class Bucket:
    """Thread-safe pacing for one (workspace, method).

    All times are seconds on ``clock`` (``time.monotonic`` by default; tests inject a fake).
    """

    def __init__(
        self,
        budget: Budget,
        time_scale: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        name: str = "",
        adaptive: AdaptivePolicy = AdaptivePolicy(),
    ) -> None:
        _check(budget, time_scale)
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._adaptive = AdaptiveRate(budget.rate_per_min, name=name, policy=adaptive)
        self._gcra = Gcra(1.0, budget.burst)  # interval set by _apply_locked
        self._gate = InFlightGate(None)
        self._blocked_until = -math.inf
        self.n_429 = 0
        self.n_reservations = 0
        self.n_late_answers = 0
        self._apply_locked(budget, time_scale)

    # -- configuration -------------------------------------------------------------------------

    def _apply_locked(self, budget: Budget, time_scale: float) -> None:
        self.budget = budget
        self.time_scale = float(time_scale)
        self._adaptive.reset(budget.rate_per_min)
        self._sync_gcra_locked()
        self._gate.set_cap(None if budget.unlimited else budget.burst)

    def _sync_gcra_locked(self) -> None:
        """Give the schedule the current (possibly adapted) rate; the TAT is kept."""
        rate = self._adaptive.rate
        if rate is not None:
            self._gcra.interval = 60.0 / (rate * self.time_scale)
            self._gcra.burst = self.budget.burst

    def configure(self, budget: Budget, time_scale: float) -> None:
        """Change the budget/time scale in place (keeps the schedule and any block)."""
        _check(budget, time_scale)
        with self._lock:
            self._apply_locked(budget, time_scale)

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def current_rate_per_min(self) -> float | None:
        """The rate paced at now, per Slack minute (None = unlimited)."""
        with self._lock:
            return self._adaptive.rate

    @property
    def blocked_until(self) -> float:
        with self._lock:
            return self._blocked_until

    @property
    def n_rate_decreases(self) -> int:
        return self._adaptive.n_decreases

    @property
    def n_rate_increases(self) -> int:
        return self._adaptive.n_increases

    # -- reservations --------------------------------------------------------------------------

    def reserve_ticket(self) -> tuple[float, int]:
        """Take the next free slot; return (slot time on ``clock``, ticket for ``on_answer``).
        The caller waits ``slot - clock()`` before sending."""
        with self._lock:
            now = self._clock()
            self.n_reservations += 1
            if self._adaptive.rate is None:
                return max(now, self._blocked_until), self.n_reservations
            return self._gcra.reserve(now, self._blocked_until), self.n_reservations

    def on_answer(self, ticket: int, answered_at: float | None = None) -> bool:
        """The request holding ``ticket`` got its answer at ``answered_at`` (default now).

        The server counted it at some time between our send and this answer; GCRA assumed
        the send time. Assume the answer time instead (the worst case) for it and for every
        reservation taken after it. With normal latencies (below ``(burst - 1)`` intervals
        when saturated) this changes nothing; after a server-side stall it stops us from
        sending into a bucket that the delayed arrivals just emptied. True if the schedule moved.
        """
        with self._lock:
            if self._adaptive.rate is None:
                return False
            at = self._clock() if answered_at is None else answered_at
            if not self._gcra.recharge(at, self.n_reservations - ticket + 1):
                return False
            self.n_late_answers += 1
            return True

    def is_clear(self, slot: float) -> bool:
        """False if a 429 since the reservation blocks ``slot``: the caller must re-reserve."""
        with self._lock:
            return slot >= self._blocked_until

    def is_stale(self, slot: float, now: float | None = None) -> bool:
        """True if sending now would be more than half an interval later than ``slot``: a
        request that sat on a queue must not go out bunched with later slots."""
        with self._lock:
            if self._adaptive.rate is None:
                return False
            return self._gcra.is_stale(slot, self._clock() if now is None else now)

    # -- requests in flight --------------------------------------------------------------------

    @property
    def in_flight_cap(self) -> int | None:
        """Most requests of this method scheduled or unanswered at once (None = no cap)."""
        return self._gate.cap

    @property
    def in_flight(self) -> int:
        return self._gate.in_flight

    @property
    def n_in_flight_waits(self) -> int:
        return self._gate.n_waits

    async def start(self) -> bool:
        """Wait (in the caller's loop) for a place in flight; True if it had to wait.
        Pair every call with ``finish()``."""
        return await self._gate.enter()

    def finish(self) -> None:
        """A request counted by ``start`` got its answer (or failed)."""
        self._gate.leave()

    # -- feedback --------------------------------------------------------------------------------

    def _block_locked(self, seconds: float) -> None:
        until = self._clock() + max(0.0, seconds)
        if until > self._blocked_until:
            self._blocked_until = until
        if self._adaptive.rate is not None:
            self._gcra.hold_until(self._blocked_until)

    def on_429(self, retry_after_s: float, sent_at: float | None = None) -> bool:
        """Record a 429 for a request sent at ``sent_at`` (clock time); block everyone for
        ``retry_after_s``. Returns True if the rate was lowered."""
        with self._lock:
            self.n_429 += 1
            lowered = self._adaptive.on_429(sent_at, self._blocked_until)
            self._sync_gcra_locked()
            self._block_locked(retry_after_s)
            return lowered

    def on_success(self) -> bool:
        """Record a success; returns True if a reduced rate was raised a step."""
        with self._lock:
            raised = self._adaptive.on_success()
            if raised:
                self._sync_gcra_locked()
            return raised

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "rate_per_min": self._adaptive.rate,
                "table_rate_per_min": self.budget.rate_per_min,
                "burst": self.budget.burst,
                "time_scale": self.time_scale,
                "n_429": self.n_429,
                "n_rate_decreases": self._adaptive.n_decreases,
                "n_rate_increases": self._adaptive.n_increases,
                "n_reservations": self.n_reservations,
                "in_flight": self._gate.in_flight,
                "n_in_flight_waits": self._gate.n_waits,
                "n_late_answers": self.n_late_answers,
            }

    def __repr__(self) -> str:
        return (
            f"Bucket({self.name!r}, rate_per_min={self._adaptive.rate}, "
            f"burst={self.budget.burst}, time_scale={self.time_scale})"
        )


def _check(budget: Budget, time_scale: float) -> None:
    if not time_scale > 0:
        raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
    if budget.burst < 1:
        raise ValueError(f"burst must be >= 1, got {budget.burst!r}")
