"""``Limits``: the per-method policy as one value, and ``Limits.scaled`` (a process taking
a share of Slack's budget)."""

from __future__ import annotations

import math

import pytest

from ingest.slack.limits import TIER_RATES, Budget, Limits, share_budget


def test_limits_resolve_like_the_tables() -> None:
    limits = Limits("unlisted", {"conversations.list": {"page_size": 50}})
    assert limits.budget("conversations.history") == TIER_RATES["tier1"]
    assert limits.budget("conversations.info") == TIER_RATES["tier3"]
    assert limits.page_size("conversations.history") == 15
    assert limits.page_size("conversations.list") == 50
    assert limits.tier("users.list") == "tier2"


@pytest.mark.parametrize("share", [1.0, 0.5, 0.25, 1 / 3, 1 / 12])
@pytest.mark.parametrize("method", ["conversations.history", "users.list", "auth.test"])
def test_scaled_multiplies_rates_and_floors_bursts(share: float, method: str) -> None:
    full = Limits(time_scale=60.0)
    mine = full.scaled(share)
    table = full.budget(method)
    assert table.rate_per_min is not None
    assert mine.budget(method) == Budget(
        table.rate_per_min * share, max(1, math.floor(table.burst * share))
    )
    assert mine.table_budget(method) == table  # the workspace's whole budget is unchanged
    assert mine.time_scale == 60.0 and mine.share == pytest.approx(share)


def test_scaled_applies_to_overrides_too_and_shares_multiply() -> None:
    limits = Limits(overrides={"conversations.history": {"burst": 8, "rate_per_min": 40}})
    quarter = limits.scaled(0.5).scaled(0.5)
    assert quarter == limits.scaled(0.25)
    assert quarter.budget("conversations.history") == Budget(10.0, 2)
    assert quarter.budget("conversations.replies") == Budget(
        TIER_RATES["tier3"].rate_per_min * 0.25,  # type: ignore[operator]
        math.floor(TIER_RATES["tier3"].burst * 0.25),
    )
    assert limits.scaled(1.0) == limits
    assert limits.budget("conversations.history") == Budget(40.0, 8)  # the original is kept


def test_holders_of_shares_never_exceed_the_whole_budget() -> None:
    limits = Limits()
    for holders in (1, 2, 3, 4):
        mine = limits.scaled(1 / holders)
        for method in ("conversations.history", "users.list", "conversations.members"):
            whole, part = limits.budget(method), mine.budget(method)
            assert whole.rate_per_min is not None and part.rate_per_min is not None
            assert holders * part.burst <= whole.burst
            assert holders * part.rate_per_min <= whole.rate_per_min + 1e-9


def test_unlimited_profile_is_not_scaled() -> None:
    limits = Limits("unlimited").scaled(0.25)
    assert limits.budget("conversations.history").unlimited
    assert limits.min_burst(["conversations.history"]) is None
    assert share_budget(Budget(None, 9), 0.25) == Budget(None, 9)


def test_min_burst_and_time_units() -> None:
    limits = Limits(time_scale=20.0)
    assert limits.min_burst(["conversations.history", "users.list"]) == TIER_RATES["tier2"].burst
    assert Limits("unlisted").min_burst(["conversations.history"]) == 1
    assert limits.real_seconds(30.0) == pytest.approx(1.5)
    # one Slack second after a 429 without Retry-After, stretched by 1/share as before
    assert limits.missing_retry_after_s == pytest.approx(0.05)
    assert limits.scaled(0.25).missing_retry_after_s == pytest.approx(0.2)


def test_limits_validate_and_are_values() -> None:
    with pytest.raises(ValueError, match="profile"):
        Limits("fast")
    with pytest.raises(ValueError, match="tier9"):
        Limits(overrides={"tier9": {"burst": 1}})
    with pytest.raises(ValueError, match="time_scale"):
        Limits(time_scale=0)
    for bad in (0, 1.5, -0.1):
        with pytest.raises(ValueError, match="share"):
            Limits().scaled(bad)
    a = Limits(overrides={"tier3": {"burst": 3}})
    b = Limits(overrides={"tier3": {"burst": 3.0}})
    assert a == b and hash(a) == hash(b) and a != Limits()
    with pytest.raises(TypeError):
        a.overrides["tier3"]["burst"] = 4  # type: ignore[index]
    assert a.as_overrides() == {"tier3": {"burst": 3}}
