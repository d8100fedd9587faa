"""Retry policy for transient failures: exponential backoff with full jitter, bounded.

Backoff is in *real* seconds and is not scaled by ``time_scale``: it is about network and
server hiccups, not about Slack's per-minute budgets. 429s are paced by ``Retry-After`` (which
the server already scales) through the shared bucket, not by this backoff.

Two bounds, whichever comes first:

* ``max_attempts``: requests per call that failed transiently (5xx, resets, timeouts, bad JSON,
  ``internal_error``...). 429s do not count here; they count against ``max_rate_limited``
  (default ``10 * max_attempts``) so a busy budget does not exhaust a call that Slack is
  merely pacing.
* ``max_total_wait_s``: the sum of every retry wait of the call (backoff sleeps plus the
  ``Retry-After`` of each 429). A wait that would cross it is not started: the call fails
  at once with ``SlackRetryExhaustedError``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["RetryPolicy", "RetryState"]


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 6
    max_total_wait_s: float = 300.0
    base_s: float = 0.25
    cap_s: float = 30.0
    max_rate_limited: int | None = None  # None => 10 * max_attempts
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if not self.max_total_wait_s >= 0:
            raise ValueError(f"max_retry_wait_s must be >= 0, got {self.max_total_wait_s!r}")
        if not (self.base_s >= 0 and self.cap_s >= 0):
            raise ValueError("backoff base and cap must be >= 0")

    @property
    def rate_limited_cap(self) -> int:
        return (
            self.max_rate_limited if self.max_rate_limited is not None else 10 * self.max_attempts
        )

    def backoff(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(failures-1))] for the n-th failure."""
        ceiling = min(self.cap_s, self.base_s * (2 ** max(0, failures - 1)))
        return self.rng.uniform(0.0, ceiling)

    def start(self) -> RetryState:
        return RetryState(self)


class RetryState:
    """Bookkeeping for one call: counts failures and waits, decides whether to go on."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0  # transient failures (not 429)
        self.rate_limited = 0  # 429s
        self.waited_s = 0.0

    @property
    def attempts(self) -> int:
        return self.failures + self.rate_limited

    def next_transient_wait(self) -> float | None:
        """Record a transient failure; the backoff before the next attempt, or None to give up."""
        self.failures += 1
        if self.failures >= self.policy.max_attempts:
            return None
        wait = self.policy.backoff(self.failures)
        if self.waited_s + wait > self.policy.max_total_wait_s:
            return None
        self.waited_s += wait
        return wait

    def next_rate_limited_wait(self, retry_after_s: float) -> float | None:
        """Record a 429 with its Retry-After; the wait to account, or None to give up."""
        self.rate_limited += 1
        if self.rate_limited > self.policy.rate_limited_cap:
            return None
        if self.waited_s + retry_after_s > self.policy.max_total_wait_s:
            return None
        self.waited_s += retry_after_s
        return retry_after_s
