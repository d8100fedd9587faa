"""Server-side rate limits: Slack's tier table, profiles and per-method token buckets."""

from __future__ import annotations

import math
import threading
import time

from .errors import SimulatorConfigError

# tier -> (requests per Slack-minute, burst capacity)
TIER_RATES: dict[str, tuple[float, int]] = {
    "tier1": (1.0, 2),
    "tier2": (20.0, 5),
    "tier3": (50.0, 10),
    "tier4": (100.0, 20),
    "auth.test": (600.0, 50),
}

METHOD_TIERS: dict[str, str] = {
    "auth.test": "auth.test",
    "auth.teams.list": "tier2",
    "team.info": "tier3",
    "users.list": "tier2",
    "users.info": "tier4",
    "conversations.list": "tier2",
    "conversations.info": "tier3",
    "conversations.members": "tier4",
    "conversations.history": "tier3",
    "conversations.replies": "tier3",
    "conversations.join": "tier3",
    "files.list": "tier3",
    "usergroups.list": "tier2",
}

PROFILES = ("internal", "marketplace", "unlisted", "unlimited")
_UNLISTED_TIER1 = ("conversations.history", "conversations.replies")


def check_profile(profile: str) -> None:
    if profile not in PROFILES:
        raise SimulatorConfigError(
            f"unknown profile {profile!r}; expected one of {', '.join(PROFILES)}"
        )


def method_budget(profile: str, method: str) -> tuple[float, int] | None:
    """(per-minute rate, burst) of a method under a profile; None = not limited."""
    check_profile(profile)
    if profile == "unlimited" or method not in METHOD_TIERS:
        return None
    tier = METHOD_TIERS[method]
    if profile == "unlisted" and method in _UNLISTED_TIER1:
        tier = "tier1"
    return TIER_RATES[tier]


def format_retry_after(seconds: float, time_scale: float) -> str:
    """Slack sends whole seconds; at a scaled time we send fractions (ceil to the ms)."""
    if time_scale == 1.0:
        return str(max(1, math.ceil(seconds - 1e-9)))
    ms = max(1, math.ceil(seconds * 1000 - 1e-6))
    return f"{ms / 1000:.3f}".rstrip("0").rstrip(".")


class TokenBucket:
    """Capacity `burst`, refilled at rate/60*time_scale tokens per real second.

    Not aiolimiter's AsyncLimiter: it makes a caller wait for capacity, while the server
    answers 429 at once with the exact time until a token (Retry-After), which AsyncLimiter
    does not expose (only its private `_level` would give it)."""

    def __init__(self, per_min: float, burst: int, time_scale: float) -> None:
        self.capacity = float(burst)
        self.rate = per_min / 60.0 * time_scale
        self.tokens = float(burst)
        self.stamp = time.monotonic()

    def take(self, now: float) -> float:
        """Take one token: 0.0 when granted, else real seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class RateLimiter:
    """One bucket per (team, method): every token of the app shares a workspace's budget.

    Slack limits per method *per workspace*, so an Enterprise Grid org's workspaces each
    get their own buckets (an org-wide token's request counts against the team it names);
    a single workspace has one team, hence one bucket per method.
    """

    def __init__(self, profile: str, time_scale: float) -> None:
        check_profile(profile)
        self.profile = profile
        self.time_scale = time_scale
        self._buckets: dict[tuple[str, str], TokenBucket | None] = {}
        self._lock = threading.Lock()

    def check(self, method: str, team: str = "") -> float:
        """0.0 if the request may proceed, else the real seconds to wait (-> 429)."""
        key = (team, method)
        with self._lock:
            if key not in self._buckets:
                budget = method_budget(self.profile, method)
                self._buckets[key] = TokenBucket(*budget, self.time_scale) if budget else None
            bucket = self._buckets[key]
            return bucket.take(time.monotonic()) if bucket else 0.0
