"""Retry policy for transient failures: capped exponential backoff with full jitter, bounded
by the total time spent waiting, so a call rides out an outage of minutes.

What binds is ``max_total_wait_s``, per call:

* transient failures: the real time since the call's first transient failure (backoff
  sleeps, and the time its retries queue behind the rate budget: under an outage many calls
  retry through one bucket, and a bound on sleeps alone would let each of them go on for far
  longer than the budget). The last backoff is shortened to what is left; once nothing is
  left the call fails with ``SlackRetryExhaustedError``.
* 429s (unchanged): the sum of the ``Retry-After`` waits, together with the backoff sleeps.
  A 429 whose ``Retry-After`` would cross the budget is not waited for: the call fails at once.

Counts are only safety nets:

* ``max_attempts`` (default 100): transient failures (5xx, resets, timeouts, bad JSON,
  ``internal_error``...) per call. High on purpose: at the default backoff the wait budget
  runs out first.
* ``unreached_attempts`` (default 6): a server that never answered this process (a wrong or
  unreachable base URL) is given up on after this many failures, in seconds rather than
  after the whole budget. Once it has answered, a lost connection is an outage like any other.
* ``max_rate_limited``: 429s per call (default ``10 * max_attempts``, at most 60), so a
  busy budget does not exhaust a call that Slack is merely pacing.

``classify`` turns the outcome of one attempt (a response or a ``TransportError``) into a
``Decision``: ``Success``, ``RateLimited`` (with the wait Slack asked for), ``Retry`` (a
transient failure: back off) or ``Fail`` (a typed ``SlackError`` to raise at once). The
client acts on the decision; ``RetryState`` says whether to go on.

Units: real seconds. The client derives them from Slack time (``max_retry_wait_s`` and the
backoff cap are divided by ``time_scale`` by the loader, see ``ingest.source.connect``);
``base_s`` stays real: it is about network hiccups, not Slack's clock.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.slack.errors import TRANSIENT_CODES, SlackError, error_from_response
from ingest.slack.transport import TransportError, TransportResponse

__all__ = [
    "Decision",
    "Fail",
    "RateLimited",
    "Retry",
    "RetryPolicy",
    "RetryState",
    "Success",
    "classify",
    "parse_retry_after",
]

#: Below this, what is left of the wait budget is not worth another attempt.
_MIN_WAIT_S = 0.001


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 100
    max_total_wait_s: float = 600.0
    base_s: float = 0.25
    cap_s: float = 30.0
    max_rate_limited: int | None = None  # None => min(10 * max_attempts, 60)
    unreached_attempts: int = 6
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {self.max_attempts!r}")
        if not self.max_total_wait_s >= 0:
            raise ValueError(f"max_retry_wait_s must be >= 0, got {self.max_total_wait_s!r}")
        if not (self.base_s >= 0 and self.cap_s >= 0):
            raise ValueError("backoff base and cap must be >= 0")
        if self.unreached_attempts < 1:
            raise ValueError(f"unreached_attempts must be >= 1, got {self.unreached_attempts!r}")

    @property
    def rate_limited_cap(self) -> int:
        if self.max_rate_limited is not None:
            return self.max_rate_limited
        return min(10 * self.max_attempts, 60)

    def backoff(self, failures: int) -> float:
        """Full jitter: uniform in [0, min(cap, base * 2**(failures-1))] for the n-th failure."""
        ceiling = min(self.cap_s, self.base_s * (2 ** min(60, max(0, failures - 1))))
        return self.rng.uniform(0.0, ceiling)

    def start(self) -> RetryState:
        return RetryState(self)


class RetryState:
    """Bookkeeping for one call: counts failures and waits, decides whether to go on."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.failures = 0  # transient failures (not 429)
        self.rate_limited = 0  # 429s
        self.waited_s = 0.0  # backoff sleeps + Retry-After waits
        self.first_failure_at: float | None = None

    @property
    def retrying_s(self) -> float:
        """Real seconds since the first transient failure (0 before one)."""
        if self.first_failure_at is None:
            return 0.0
        return self.policy.clock() - self.first_failure_at

    @property
    def attempts(self) -> int:
        return self.failures + self.rate_limited

    @property
    def budget_left_s(self) -> float:
        return self.policy.max_total_wait_s - max(self.waited_s, self.retrying_s)

    def next_transient_wait(self, *, reached: bool = True) -> float | None:
        """Record a transient failure; the backoff before the next attempt, or None to give
        up. `reached`: the server answered this process before (see `unreached_attempts`)."""
        self.failures += 1
        if self.first_failure_at is None:
            self.first_failure_at = self.policy.clock()
        limit = (
            self.policy.max_attempts
            if reached
            else min(self.policy.max_attempts, self.policy.unreached_attempts)
        )
        if self.failures >= limit:
            return None
        left = self.budget_left_s
        if left < _MIN_WAIT_S:
            return None
        wait = min(self.policy.backoff(self.failures), left)
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


# -- classification of one attempt -------------------------------------------------------------


@dataclass(frozen=True)
class Success:
    """``ok: true``: the response dict."""

    data: dict[str, Any]


@dataclass(frozen=True)
class RateLimited:
    """HTTP 429 or ``ratelimited``: block the method for ``retry_after_s`` and try again.
    ``header`` is the raw ``Retry-After`` (for messages)."""

    retry_after_s: float
    header: str | None


@dataclass(frozen=True)
class Retry:
    """A transient failure: back off and try again. ``reached``: the server answered (or at
    least was connected to) on this attempt."""

    code: str
    text: str
    reached: bool


@dataclass(frozen=True)
class Fail:
    """Raise ``error`` at once (never retried)."""

    error: SlackError


Decision = Success | RateLimited | Retry | Fail


def parse_retry_after(header: str | None) -> float | None:
    """Seconds from a ``Retry-After`` header (fractions accepted); None if missing or bad."""
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


def classify(
    method: str,
    params: Mapping[str, Any],
    outcome: TransportResponse | TransportError,
    *,
    missing_retry_after_s: float,
) -> Decision:
    """What to do after one attempt of ``method`` with ``params``.

    ``missing_retry_after_s``: the wait for a 429 without a usable ``Retry-After``.
    """
    if isinstance(outcome, TransportError):
        return Retry(outcome.code, outcome.text, outcome.reached)
    status = outcome.status
    header = outcome.header("Retry-After")
    if status == 429:
        return _rate_limited(header, missing_retry_after_s)
    if status >= 500:
        return Retry(f"http_{status}", f"HTTP {status}", reached=True)
    try:
        data = orjson.loads(outcome.body)
    except orjson.JSONDecodeError:
        data = None
    if not isinstance(data, dict):
        if status == 200:
            text = f"HTTP 200 with an invalid JSON body ({len(outcome.body)} bytes)"
            return Retry("invalid_json", text, reached=True)
        return Fail(SlackError(method, f"http_{status}", f"{method}: HTTP {status}"))
    if data.get("ok") is True:
        return Success(data)
    code = str(data.get("error") or ("unknown_error" if status == 200 else f"http_{status}"))
    if code == "ratelimited":
        return _rate_limited(header, missing_retry_after_s)
    if code in TRANSIENT_CODES:
        return Retry(code, f"ok:false {code}", reached=True)
    return Fail(error_from_response(method, data, params))


def _rate_limited(header: str | None, missing_retry_after_s: float) -> RateLimited:
    value = parse_retry_after(header)
    return RateLimited(missing_retry_after_s if value is None else value, header)
