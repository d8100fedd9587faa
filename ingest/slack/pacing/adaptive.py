"""The rate actually paced at: lowered when 429s keep coming, recovered by successes.

The first 429 only blocks (it may come from another user of the same app budget). A 429 on
a request sent after a previous block had ended means our pacing itself is too fast for
Slack's real limit: the rate drops by ``decrease_factor`` (floor ``floor_fraction`` of the
table rate). Every ``recover_every`` successes at a reduced rate it rises by
``recover_step`` again, up to the table rate. Rates are per Slack minute.

Not thread-safe on its own: the ``Bucket`` calls it under its lock.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

__all__ = ["AdaptivePolicy", "AdaptiveRate"]

logger = logging.getLogger("ingest.slack")


@dataclass(frozen=True)
class AdaptivePolicy:
    """How far the rate drops after a 429 that pacing caused, and how it recovers."""

    decrease_factor: float = 0.8
    floor_fraction: float = 0.25
    recover_step: float = 0.05
    recover_every: int = 20


class AdaptiveRate:
    """The current rate for a table rate ``table`` (``None``: unlimited, never adapts)."""

    def __init__(
        self, table: float | None, *, name: str = "", policy: AdaptivePolicy = AdaptivePolicy()
    ) -> None:
        self.name = name
        self.policy = policy
        self.table = table
        self.rate = table
        self._had_429 = False
        self._successes_at_reduced = 0
        self.n_decreases = 0
        self.n_increases = 0

    def reset(self, table: float | None) -> None:
        """A new table rate: pace at it (a 429 seen before still counts as seen)."""
        self.table = table
        self.rate = table
        self._successes_at_reduced = 0

    def on_429(self, sent_at: float | None, previous_block_end: float) -> bool:
        """A 429 for a request sent at ``sent_at``; the block before it ended at
        ``previous_block_end``. Returns True if the rate was lowered."""
        self._successes_at_reduced = 0
        lowered = False
        if (
            self.rate is not None
            and self.table is not None
            and self._had_429
            and sent_at is not None
            and sent_at >= previous_block_end
        ):
            # We obeyed the previous Retry-After and still got a 429: pacing is too fast.
            new_rate = max(
                self.table * self.policy.floor_fraction, self.rate * self.policy.decrease_factor
            )
            if new_rate < self.rate:
                logger.warning(
                    "slack budget %s: 429 again after obeying Retry-After; "
                    "rate lowered %.1f -> %.1f/min (table %.1f)",
                    self.name or "?",
                    self.rate,
                    new_rate,
                    self.table,
                )
                self.rate = new_rate
                self.n_decreases += 1
                lowered = True
        self._had_429 = True
        return lowered

    def on_success(self) -> bool:
        """A success; returns True if a reduced rate was raised a step."""
        if self.rate is None or self.table is None or self.rate >= self.table:
            return False
        self._successes_at_reduced += 1
        if self._successes_at_reduced < self.policy.recover_every:
            return False
        self._successes_at_reduced = 0
        self.rate = min(self.table, self.rate * (1.0 + self.policy.recover_step))
        self.n_increases += 1
        logger.info(
            "slack budget %s: rate raised to %.1f/min (table %.1f)",
            self.name or "?",
            self.rate,
            self.table,
        )
        return True
