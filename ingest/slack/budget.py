"""Per-(workspace, method) request pacing shared by every thread and event loop in the process.

The bucket is a GCRA ("generic cell rate algorithm", a.k.a. virtual scheduling) reservation
bucket. It keeps one number, the *theoretical arrival time* (TAT) of the next request, under a
``threading.Lock``. ``reserve()`` takes the next free slot atomically and returns how long the
caller must wait before sending; the caller then sleeps in its *own* event loop. That is why
one bucket serves coroutines of one loop and Prefect tasks that ``.submit()`` runs each in its
own thread and loop alike: nobody sleeps under the lock, slots are handed out in arrival order
(FIFO, no thundering herd when a block ends) and the schedule is exact over time (no drift from
timer granularity, since the TAT advances by exactly one interval per reservation).

GCRA with emission interval ``T = 60 / (rate_per_min * time_scale)`` seconds and tolerance
``tau = (burst - 1) * T``: a slot is ``max(now, TAT - tau)`` and the TAT then becomes
``max(TAT, slot) + T``. After an idle period ``burst`` requests go at once; after that one per
``T``. In any window of length ``w`` at most ``burst + w / T`` requests are scheduled.

A 429 (``on_429`` / ``block_for``) sets a shared ``blocked_until`` and pushes the TAT so that
the next slot is ``blocked_until`` and then one per ``T`` (no burst into a server that just said
no). Requests that reserved a slot before the block re-check with ``is_clear(slot)`` after
their sleep and reserve again.

Late arrivals: GCRA charges a request at its send time, but the server charges it on arrival,
which lies anywhere between the send and the answer. ``on_answer(ticket)`` re-charges it (and
everything reserved after it) at the answer time when that is later than the schedule allows,
so a stall never lets us send into a server bucket the delayed arrivals have just emptied.

In flight: at most ``burst`` requests of a method may be *scheduled or unanswered* at once
(``start``/``finish`` around reserve-sleep-send-answer). A request's arrival at the server is
only known to lie between its send and its answer; when the server stalls (queueing, a slow
page, a busy event loop at a high ``time_scale``) requests sent on schedule arrive bunched,
and a server bucket that was full before the stall absorbs no more than its capacity of them.
Capping the outstanding requests at ``burst`` (one below that capacity) bounds any bunch, and
it also bounds how far ahead slots are handed out. With normal latencies (well below
``burst`` intervals) the cap costs no throughput. Waiters from any thread/loop are served FIFO,
each woken in its own loop (``call_soon_threadsafe``).

Adaptive rate: the first 429 only blocks (it may come from another user of the same app
budget). A 429 on a request sent after a previous block had ended means our pacing itself is
too fast for Slack's real limit: the rate drops by ``decrease_factor`` (floor ``floor_fraction``
of the table rate). Every ``recover_every`` successes at a reduced rate it rises by
``recover_step`` (5%) again, up to the table rate.
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from ingest.slack.limits import Budget

__all__ = ["Bucket", "get_bucket", "registered_buckets", "reset_buckets"]

logger = logging.getLogger("ingest.slack")

Clock = Callable[[], float]


class Bucket:
    """A thread-safe GCRA reservation bucket for one (workspace, method).

    All times are seconds on ``clock`` (``time.monotonic`` by default; tests inject a fake).
    Rates are per Slack minute; ``time_scale`` multiplies them (60 => a minute lasts 1 s).
    """

    def __init__(
        self,
        budget: Budget,
        time_scale: float = 1.0,
        *,
        clock: Clock = time.monotonic,
        name: str = "",
        decrease_factor: float = 0.8,
        floor_fraction: float = 0.25,
        recover_step: float = 0.05,
        recover_every: int = 20,
    ) -> None:
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        if budget.burst < 1:
            raise ValueError(f"burst must be >= 1, got {budget.burst!r}")
        self.name = name
        self._clock = clock
        self._lock = threading.Lock()
        self._decrease_factor = decrease_factor
        self._floor_fraction = floor_fraction
        self._recover_step = recover_step
        self._recover_every = recover_every
        self._tat = -math.inf
        self._blocked_until = -math.inf
        self._had_429 = False
        self._successes_at_reduced = 0
        self.n_429 = 0
        self.n_rate_decreases = 0
        self.n_rate_increases = 0
        self.n_reservations = 0
        self.n_in_flight_waits = 0
        self.n_late_answers = 0
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._apply_config(budget, time_scale)

    # -- configuration -------------------------------------------------------------------------

    def _apply_config(self, budget: Budget, time_scale: float) -> None:
        self.budget = budget
        self.time_scale = float(time_scale)
        self._rate = budget.rate_per_min  # current (possibly adapted) Slack rate per minute
        self._successes_at_reduced = 0

    def configure(self, budget: Budget, time_scale: float) -> None:
        """Change the budget/time scale in place (keeps the schedule and any block)."""
        if not time_scale > 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        with self._lock:
            self._apply_config(budget, time_scale)
            self._wake_locked()  # the in-flight cap may have grown

    @property
    def clock(self) -> Clock:
        return self._clock

    @property
    def current_rate_per_min(self) -> float | None:
        """The rate paced at now, per Slack minute (None = unlimited)."""
        with self._lock:
            return self._rate

    @property
    def blocked_until(self) -> float:
        with self._lock:
            return self._blocked_until

    def _interval(self) -> float:
        """Seconds between two slots at the current rate (0 when unlimited)."""
        if self._rate is None:
            return 0.0
        return 60.0 / (self._rate * self.time_scale)

    @property
    def interval_s(self) -> float:
        with self._lock:
            return self._interval()

    # -- reservations --------------------------------------------------------------------------

    def reserve_ticket(self) -> tuple[float, int]:
        """Take the next free slot; return (slot time on ``clock``, ticket for ``on_answer``)."""
        with self._lock:
            now = self._clock()
            self.n_reservations += 1
            ticket = self.n_reservations
            if self._rate is None:
                return max(now, self._blocked_until), ticket
            interval = self._interval()
            tau = (self.budget.burst - 1) * interval
            slot = max(now, self._tat - tau, self._blocked_until)
            self._tat = max(self._tat, slot) + interval
            return slot, ticket

    def reserve_at(self) -> float:
        """Take the next free slot; return its time on ``clock`` (may be now or in the past)."""
        return self.reserve_ticket()[0]

    def on_answer(self, ticket: int, answered_at: float | None = None) -> bool:
        """The request holding ``ticket`` got its answer at ``answered_at`` (default now).

        The server counted it at some time between our send and this answer; GCRA assumed
        the send time. Assume the answer time instead (the worst case) for it and for every
        reservation taken after it: ``TAT >= answered_at + (reservations since) * T``. With
        normal latencies (below ``(burst - 1)`` intervals when saturated) this changes nothing;
        after a server-side stall it stops us from sending into a bucket that the delayed
        arrivals just emptied. Returns True if the schedule moved.
        """
        with self._lock:
            if self._rate is None:
                return False
            at = self._clock() if answered_at is None else answered_at
            candidate = at + (self.n_reservations - ticket + 1) * self._interval()
            if candidate <= self._tat:
                return False
            self._tat = candidate
            self.n_late_answers += 1
            return True

    def reserve(self) -> float:
        """Take the next free slot; return the seconds to wait before sending (>= 0)."""
        slot = self.reserve_at()
        return max(0.0, slot - self._clock())

    def is_clear(self, slot: float) -> bool:
        """False if a 429 since the reservation blocks ``slot``: the caller must re-reserve."""
        with self._lock:
            return slot >= self._blocked_until

    def is_stale(self, slot: float, now: float | None = None) -> bool:
        """True if sending now would be more than half an interval later than ``slot``.

        A request that sat on a queue (e.g. the client's in-flight cap) after its slot came
        must not go out bunched with later slots: it reserves a fresh slot instead.
        """
        with self._lock:
            if self._rate is None:
                return False
            now = self._clock() if now is None else now
            return now - slot > self._interval() / 2

    # -- requests in flight --------------------------------------------------------------------

    @property
    def in_flight_cap(self) -> int | None:
        """Most requests of this method sent and unanswered at once (None = no cap)."""
        return None if self._rate is None else self.budget.burst

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def try_start(self) -> bool:
        """Count a request as in flight if the cap allows (and nobody queued before us)."""
        with self._lock:
            return self._try_start_locked(queued=False)

    def _try_start_locked(self, *, queued: bool) -> bool:
        cap = self.in_flight_cap
        if cap is not None and (self._in_flight >= cap or (self._waiters and not queued)):
            return False
        self._in_flight += 1
        return True

    async def start(self) -> bool:
        """Wait (in the caller's loop) until the request may be in flight; count it.

        Returns True if it had to wait. Pair every call with ``finish()``.
        """
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._try_start_locked(queued=False):
                return False
            self.n_in_flight_waits += 1
            future: asyncio.Future[None] = loop.create_future()
            entry = (loop, future)
            self._waiters.append(entry)
        try:
            await future
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove(entry)
                except ValueError:
                    # We were already handed the place (woken): give it back.
                    self._in_flight -= 1
                    self._wake_locked()
            raise
        return True

    def finish(self) -> None:
        """A request counted by ``start``/``try_start`` got its answer (or failed)."""
        with self._lock:
            self._in_flight = max(0, self._in_flight - 1)
            self._wake_locked()

    def _wake_locked(self) -> None:
        # Hand places to waiters FIFO; each place is counted before the waiter runs.
        while self._waiters:
            cap = self.in_flight_cap
            if cap is not None and self._in_flight >= cap:
                return
            loop, future = self._waiters.popleft()
            self._in_flight += 1
            try:
                loop.call_soon_threadsafe(_resolve, future)
            except RuntimeError:  # that loop is closed: its waiter is gone
                self._in_flight -= 1

    # -- feedback --------------------------------------------------------------------------------

    def block_for(self, seconds: float) -> float:
        """Nobody sends before now + ``seconds``; return the new ``blocked_until``."""
        with self._lock:
            return self._block_locked(seconds)

    def _block_locked(self, seconds: float) -> float:
        until = self._clock() + max(0.0, seconds)
        if until > self._blocked_until:
            self._blocked_until = until
        if self._rate is not None:
            # Next slot exactly at blocked_until, then one per interval: no burst after a block.
            tau = (self.budget.burst - 1) * self._interval()
            self._tat = max(self._tat, self._blocked_until + tau)
        return self._blocked_until

    def on_429(self, retry_after_s: float, sent_at: float | None = None) -> bool:
        """Record a 429 for a request sent at ``sent_at`` (clock time); block everyone for
        ``retry_after_s``. Returns True if the rate was lowered."""
        with self._lock:
            self.n_429 += 1
            self._successes_at_reduced = 0
            previous_block_end = self._blocked_until
            lowered = False
            if (
                self._rate is not None
                and self._had_429
                and sent_at is not None
                and sent_at >= previous_block_end
            ):
                # We obeyed the previous Retry-After and still got a 429: pacing is too fast.
                table = self.budget.rate_per_min
                assert table is not None
                floor = table * self._floor_fraction
                new_rate = max(floor, self._rate * self._decrease_factor)
                if new_rate < self._rate:
                    old = self._rate
                    self._rate = new_rate
                    self.n_rate_decreases += 1
                    lowered = True
                    logger.warning(
                        "slack budget %s: 429 again after obeying Retry-After; "
                        "rate lowered %.1f -> %.1f/min (table %.1f)",
                        self.name or "?",
                        old,
                        new_rate,
                        table,
                    )
            self._had_429 = True
            self._block_locked(retry_after_s)
            return lowered

    def on_success(self) -> bool:
        """Record a success; returns True if a reduced rate was raised a step."""
        with self._lock:
            table = self.budget.rate_per_min
            if self._rate is None or table is None or self._rate >= table:
                return False
            self._successes_at_reduced += 1
            if self._successes_at_reduced < self._recover_every:
                return False
            self._successes_at_reduced = 0
            self._rate = min(table, self._rate * (1.0 + self._recover_step))
            self.n_rate_increases += 1
            logger.info(
                "slack budget %s: rate raised to %.1f/min (table %.1f)",
                self.name or "?",
                self._rate,
                table,
            )
            return True

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "name": self.name,
                "rate_per_min": self._rate,
                "table_rate_per_min": self.budget.rate_per_min,
                "burst": self.budget.burst,
                "time_scale": self.time_scale,
                "n_429": self.n_429,
                "n_rate_decreases": self.n_rate_decreases,
                "n_rate_increases": self.n_rate_increases,
                "n_reservations": self.n_reservations,
                "in_flight": self._in_flight,
                "n_in_flight_waits": self.n_in_flight_waits,
                "n_late_answers": self.n_late_answers,
            }

    def __repr__(self) -> str:
        return (
            f"Bucket({self.name!r}, rate_per_min={self._rate}, burst={self.budget.burst}, "
            f"time_scale={self.time_scale})"
        )


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


_REGISTRY: dict[tuple[str, str], Bucket] = {}
_REGISTRY_LOCK = threading.Lock()


def get_bucket(
    workspace_key: str,
    method: str,
    budget: Budget,
    time_scale: float = 1.0,
    *,
    clock: Clock | None = None,
) -> Bucket:
    """The process-wide bucket for ``(workspace_key, method)``, created on first use.

    Any thread gets the same object for the same key. If a later caller asks with a different
    budget or time scale, the bucket is reconfigured in place (latest configuration wins; the
    schedule and any block are kept) since Slack's budget is one per workspace and method.
    """
    key = (workspace_key, method)
    with _REGISTRY_LOCK:
        bucket = _REGISTRY.get(key)
        if bucket is None:
            bucket = Bucket(
                budget,
                time_scale,
                clock=clock or time.monotonic,
                name=f"{method}@{workspace_key}",
            )
            _REGISTRY[key] = bucket
            return bucket
    if bucket.budget != budget or bucket.time_scale != float(time_scale):
        logger.info(
            "slack budget %s reconfigured: %s at time_scale %s", bucket.name, budget, time_scale
        )
        bucket.configure(budget, time_scale)
    return bucket


def registered_buckets() -> dict[tuple[str, str], Bucket]:
    """A copy of the registry (for stats and tests)."""
    with _REGISTRY_LOCK:
        return dict(_REGISTRY)


def reset_buckets() -> None:
    """Forget every bucket (tests; a new process starts empty anyway)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
