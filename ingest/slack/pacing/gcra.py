"""GCRA ("generic cell rate algorithm", a.k.a. virtual scheduling) arithmetic, nothing else.

The state is one number, the *theoretical arrival time* (TAT) of the next request. With
emission interval ``T`` and tolerance ``tau = (burst - 1) * T`` a reservation at ``now`` gets
the slot ``max(now, TAT - tau)`` and the TAT becomes ``max(TAT, slot) + T``: after an idle
period ``burst`` requests go at once, then one per ``T``; in any window of length ``w`` at most
``burst + w / T`` slots are handed out. The wait before sending is ``slot - now``.

Pure: every method takes the time it should act at (no clock, no lock, no sleeping). The
caller (``Bucket``) owns the clock and the lock.
"""

from __future__ import annotations

import math

__all__ = ["Gcra"]


class Gcra:
    """GCRA schedule with ``interval`` seconds between slots and ``burst`` slots at once."""

    def __init__(self, interval: float, burst: int) -> None:
        if not interval > 0:
            raise ValueError(f"interval must be > 0, got {interval!r}")
        if burst < 1:
            raise ValueError(f"burst must be >= 1, got {burst!r}")
        self.interval = interval
        self.burst = burst
        self.tat = -math.inf

    @property
    def tau(self) -> float:
        """How far ahead of the TAT a slot may be (``burst - 1`` intervals)."""
        return (self.burst - 1) * self.interval

    def reserve(self, now: float, not_before: float = -math.inf) -> float:
        """Take the next free slot at or after ``now`` and ``not_before``; return it."""
        slot = max(now, self.tat - self.tau, not_before)
        self.tat = max(self.tat, slot) + self.interval
        return slot

    def hold_until(self, at: float) -> None:
        """The next slot is no earlier than ``at`` and the ones after it are one interval
        apart (no burst right after a block)."""
        self.tat = max(self.tat, at + self.tau)

    def recharge(self, at: float, count: int) -> bool:
        """``count`` reservations are charged from ``at`` on (a request the server counted
        only at ``at``, and the ones reserved after it). Returns True if the schedule moved."""
        candidate = at + count * self.interval
        if candidate <= self.tat:
            return False
        self.tat = candidate
        return True

    def is_stale(self, slot: float, now: float) -> bool:
        """True if sending at ``now`` is more than half an interval later than ``slot``."""
        return now - slot > self.interval / 2
