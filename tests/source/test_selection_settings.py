"""Channel selection and settings validation (pure)."""

import pytest

from ingest.source.selection import plan_from_list
from ingest.source.settings import ConfigError, LoadSettings, check_token, ts_from_date

CHANNELS = [
    {"id": "C1", "name": "general", "is_member": True},
    {"id": "C2", "name": "random", "is_member": False},
    {"id": "C3", "name": "secret", "is_member": True, "is_private": True},
    {"id": "C4", "name": "old", "is_member": True, "is_archived": True},
]


def test_default_selects_all_and_reads_member_channels():
    plan = plan_from_list(CHANNELS, LoadSettings())
    assert [c["id"] for c in plan.selected] == ["C1", "C2", "C3", "C4"]
    assert plan.readable_ids == ["C1", "C3", "C4"]
    assert set(plan.skipped) == {"C2"}


def test_selection_by_name_and_id_and_exclusions():
    s = LoadSettings(
        channels=("#general", "C2", "C3"), exclude_channels=("old", "secret"), include_private=True
    )
    with pytest.raises(ConfigError, match=r"both selected and excluded: #secret \(C3\)"):
        plan_from_list(CHANNELS, s)  # a contradiction, not a silent "exclude wins"
    s = LoadSettings(channels=("#general", "C2", "old"), exclude_channels=("secret",))
    plan = plan_from_list(CHANNELS, s)
    assert [c["id"] for c in plan.selected] == ["C1", "C2", "C4"]
    assert plan_from_list(CHANNELS, LoadSettings(include_private=False)).readable_ids == [
        "C1",
        "C4",
    ]
    assert plan_from_list(CHANNELS, LoadSettings(exclude_archived=True)).readable_ids == [
        "C1",
        "C3",
    ]
    joined = plan_from_list(CHANNELS, LoadSettings(auto_join=True))
    assert [c["id"] for c in joined.to_join] == ["C2"]


def test_unknown_channel_is_a_clear_error():
    with pytest.raises(ConfigError, match="unknown channel.*nope"):
        plan_from_list(CHANNELS, LoadSettings(channels=("nope",)))


def test_dates_and_validation():
    assert ts_from_date("2024-01-01", name="start") == "1704067200.000000"
    assert ts_from_date("2024-01-01T00:00:01.5+00:00", name="start") == "1704067201.500000"
    with pytest.raises(ConfigError, match="not a date"):
        ts_from_date("yesterday-ish", name="start date")
    with pytest.raises(ConfigError, match="not after"):
        LoadSettings(start_date="2024-02-01", end_date="2024-01-01").validate()
    with pytest.raises(ConfigError, match="unknown profile"):
        LoadSettings(profile="fast").validate()
    with pytest.raises(ConfigError, match="unknown setting"):
        LoadSettings.from_mapping({"colour": "red"})


def test_token_checks_never_echo_the_token():
    with pytest.raises(ConfigError, match="no Slack token"):
        check_token(None)
    with pytest.raises(ConfigError) as info:
        check_token("not a token secret-value")
    assert "secret-value" not in str(info.value)
    assert check_token(" xoxb-123-abc ") == "xoxb-123-abc"
