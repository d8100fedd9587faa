"""One Slack budget per workspace, however many processes share the token.

Inside one process every client shares the process-wide buckets of `ingest.slack.pacing`
(tasks submitted with `.submit()` run in threads of the flow process). Across processes
and machines the budget is split explicitly and the split is *leased* from the Prefect
server:

- a global concurrency limit `slack-budget-<team id>` has `SLOTS` slots (default 12,
  `SLACK_INGEST_BUDGET_SLOTS`), standing for Slack's whole per-method budget;
- a process that talks to Slack holds `k` slots while it does, and runs its clients at
  `budget_share = k / SLOTS`: its clients use `Limits.scaled(budget_share)`
  (`ingest.slack.limits`): every per-method rate *and* every burst is scaled by that share
  (bursts are floored, min 1), so the sum over all holders never exceeds Slack's rate or
  its burst capacity.

The in-process flow holds all slots (full budget; a second run on the same workspace waits
for it). In the distributed flow each shard flow run holds `SLOTS // parallel shards`.
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Iterator
from contextlib import contextmanager

from ingest.source import LoadSettings

SLOTS_ENV = "SLACK_INGEST_BUDGET_SLOTS"
DEFAULT_SLOTS = 12
LEASE_S = 120.0


def budget_slots() -> int:
    raw = os.environ.get(SLOTS_ENV, "").strip()
    if not raw:
        return DEFAULT_SLOTS
    try:
        slots = int(raw)
    except ValueError:
        slots = 0
    if slots < 1:
        from ingest.source import ConfigError

        raise ConfigError(f"{SLOTS_ENV}={raw!r} must be a positive integer")
    return slots


def budget_limit_name(team_id: str | None) -> str:
    key = re.sub(r"[^A-Za-z0-9_-]", "", team_id or "") or "default"
    return f"slack-budget-{key}"


#: Every method a load calls (the smallest burst among them bounds how finely the budget
#: can be split).
USED_METHODS = (
    "auth.test",
    "team.info",
    "users.list",
    "conversations.list",
    "conversations.members",
    "conversations.history",
    "conversations.replies",
    "conversations.join",
)


def min_burst(settings: LoadSettings) -> int | None:
    """The smallest burst among the methods a load uses (None: the profile is unlimited)."""
    from ingest.slack import Limits

    return Limits(settings.profile, settings.limits or {}).min_burst(USED_METHODS)


def slots_per_process(parallel: int, slots: int, settings: LoadSettings) -> int:
    """Slots each of `parallel` concurrent processes leases.

    A process's burst cannot go below one request, so a split finer than the smallest
    burst would let the holders' bursts add up beyond Slack's capacity: each holder takes
    at least `slots / min_burst` slots (with the `internal` profile, tier 2's burst of 4
    allows four processes at once; `unlisted` puts history at tier 1, one process at once).
    """
    want = max(1, slots // max(1, parallel))
    smallest = min_burst(settings)
    if smallest is not None:
        want = max(want, math.ceil(slots / smallest))
    return min(slots, want)


def apply_share(settings: LoadSettings, share: float) -> LoadSettings:
    """Settings whose clients use `share` of the workspace's budget: `budget_share` is
    multiplied by it, and the client applies it with `Limits.scaled(budget_share)` (rates
    and bursts). The user's `limits` overrides are left as they are."""
    if not 0 < share <= 1:
        raise ValueError(f"budget share must be in (0, 1], got {share}")
    if share >= 1:
        return settings
    return settings.replace(budget_share=settings.budget_share * share).validate()


def ensure_budget_limit(name: str, slots: int) -> None:
    from flows.concurrency import ensure_global_limit, read_global_limit

    current = read_global_limit(name)
    if current is None or int(current.limit) != slots:
        ensure_global_limit(name, slots)


@contextmanager
def budget_lease(name: str, occupy: int, slots: int) -> Iterator[float]:
    """Hold `occupy` of the workspace's `slots` budget slots; yields the share they stand for."""
    from prefect.concurrency.sync import concurrency

    occupy = max(1, min(occupy, slots))
    ensure_budget_limit(name, slots)
    with concurrency(
        name,
        occupy=occupy,
        strict=True,
        lease_duration=LEASE_S,
        raise_on_lease_renewal_failure=False,
    ):
        yield occupy / slots
