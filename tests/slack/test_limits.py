from __future__ import annotations

import pytest

from ingest.slack.limits import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIER,
    MAX_PAGE_SIZE,
    METHOD_TIERS,
    PAGE_SIZES,
    PROFILES,
    TIER_RATES,
    Budget,
    resolve_budget,
    resolve_page_size,
    resolve_tier,
    validate_overrides,
)


def test_tables_match_slack_and_sit_one_below_the_simulator_capacity() -> None:
    assert TIER_RATES["tier1"] == Budget(1.0, 1)
    assert TIER_RATES["tier2"] == Budget(20.0, 4)
    assert TIER_RATES["tier3"] == Budget(50.0, 9)
    assert TIER_RATES["tier4"] == Budget(100.0, 19)
    assert TIER_RATES["special"] == Budget(600.0, 49)
    assert METHOD_TIERS["auth.test"] == "special"
    assert METHOD_TIERS["conversations.history"] == "tier3"
    assert METHOD_TIERS["conversations.members"] == "tier4"
    assert METHOD_TIERS["users.list"] == "tier2"
    assert set(PROFILES) == {"internal", "marketplace", "unlisted", "unlimited"}
    for sizes in PAGE_SIZES.values():
        assert all(1 <= size <= MAX_PAGE_SIZE for size in sizes.values())
    assert PAGE_SIZES["default"]["conversations.list"] < 1000
    assert PAGE_SIZES["default"]["users.list"] <= 200


@pytest.mark.parametrize("profile", ["internal", "marketplace"])
def test_internal_and_marketplace_use_the_table(profile: str) -> None:
    assert resolve_budget(profile, "conversations.history") == Budget(50.0, 9)
    assert resolve_budget(profile, "users.info") == Budget(100.0, 19)
    assert resolve_budget(profile, "auth.test") == Budget(600.0, 49)
    assert resolve_page_size(profile, "conversations.history") == 200
    assert resolve_page_size(profile, "conversations.replies") == 1000


def test_unlisted_profile_slows_history_and_replies_only() -> None:
    for method in ("conversations.history", "conversations.replies"):
        assert resolve_tier("unlisted", method) == "tier1"
        assert resolve_budget("unlisted", method) == Budget(1.0, 1)
        assert resolve_page_size("unlisted", method) == 15
    assert resolve_budget("unlisted", "conversations.list") == Budget(20.0, 4)
    assert resolve_page_size("unlisted", "conversations.list") == 999


def test_unlimited_profile_has_no_rate() -> None:
    budget = resolve_budget("unlimited", "conversations.history")
    assert budget.rate_per_min is None and budget.unlimited
    # rate overrides do not bring pacing back under "unlimited"
    assert resolve_budget(
        "unlimited", "conversations.history", {"tier3": {"rate_per_min": 5}}
    ).unlimited


def test_unknown_method_defaults_to_tier2() -> None:
    assert DEFAULT_TIER == "tier2"
    assert resolve_budget("internal", "chat.postMessage") == TIER_RATES["tier2"]
    assert resolve_page_size("internal", "chat.postMessage") == DEFAULT_PAGE_SIZE


def test_overrides_merge_entry_by_entry_method_over_tier() -> None:
    overrides = {
        "conversations.history": {"rate_per_min": 40, "burst": 5, "page_size": 100},
        "tier3": {"rate_per_min": 45},
    }
    assert resolve_budget("internal", "conversations.history", overrides) == Budget(40.0, 5)
    # tier entry changes the rate, the burst stays the table's
    assert resolve_budget("internal", "conversations.replies", overrides) == Budget(45.0, 9)
    assert resolve_budget("internal", "users.list", overrides) == Budget(20.0, 4)
    assert resolve_page_size("internal", "conversations.history", overrides) == 100
    assert resolve_page_size("internal", "conversations.replies", overrides) == 1000
    # under unlisted, history is tier1: a tier1 override reaches it, a tier3 one does not
    assert resolve_budget("unlisted", "conversations.replies", overrides) == Budget(1.0, 1)
    assert resolve_budget("unlisted", "conversations.replies", {"tier1": {"rate_per_min": 2}}) == (
        Budget(2.0, 1)
    )
    # overrides given as numeric strings (environment variables) are accepted
    assert validate_overrides({"tier2": {"rate_per_min": "30", "burst": "3"}}) == {
        "tier2": {"rate_per_min": 30.0, "burst": 3}
    }


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"tier9": {"rate_per_min": 1}}, "tier9"),
        ({"conversations.history": {"rate": 1}}, "unknown field 'rate'"),
        ({"conversations.history": {"rate_per_min": 0}}, "must be > 0"),
        ({"conversations.history": {"rate_per_min": -3}}, "must be > 0"),
        ({"conversations.history": {"rate_per_min": "fast"}}, "expected a number"),
        ({"conversations.history": {"rate_per_min": True}}, "expected a number"),
        ({"conversations.history": {"rate_per_min": float("inf")}}, "finite"),
        ({"conversations.history": {"burst": 0}}, "burst"),
        ({"conversations.history": {"burst": 2.5}}, "burst"),
        ({"conversations.history": {"page_size": 1001}}, "page_size"),
        ({"tier3": {"page_size": 10}}, "per method"),
        ({"conversations.history": 40}, "expected a mapping"),
        ([("tier3", {})], "expected a mapping"),
    ],
)
def test_bad_overrides_raise_one_line_value_errors(overrides: object, fragment: str) -> None:
    with pytest.raises(ValueError) as info:
        resolve_budget("internal", "conversations.history", overrides)  # type: ignore[arg-type]
    message = str(info.value)
    assert fragment in message
    assert "\n" not in message


def test_unknown_profile_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown Slack rate-limit profile 'fast'"):
        resolve_budget("fast", "conversations.history")
    with pytest.raises(ValueError, match="unknown Slack rate-limit profile"):
        resolve_page_size("fast", "conversations.history")
