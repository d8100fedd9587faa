"""The pure parts of the flow layer: shard assignment, the budget split, which errors are
retried, parameters, and the summary's rendering."""

from __future__ import annotations

import math

import pytest

from flows.budget_lease import apply_share, min_burst, slots_per_process
from flows.config import settings_from_params, settings_to_params, target_from_params
from flows.failures import is_fatal
from flows.sharding import assign_shards, shard_of
from ingest.load.run import Target
from ingest.slack import (
    TIER_RATES,
    Budget,
    Limits,
    SlackAuthError,
    SlackConnectionError,
    SlackMissingScopeError,
    SlackRetryExhaustedError,
)
from ingest.source import LoadSettings
from ingest.source.settings import ConfigError

IDS = [f"C{i:010d}" for i in range(500)]


def test_shard_assignment_is_stable_balanced_and_local():
    shards = assign_shards(IDS, 4)
    assert sorted(c for s in shards for c in s) == sorted(IDS)
    assert all(80 < len(s) < 170 for s in shards)  # sha1 spreads ids
    assert assign_shards(list(reversed(IDS)), 4) == shards  # order does not matter
    # adding channels moves no existing channel
    grown = assign_shards([*IDS, "CNEW0000001", "CNEW0000002"], 4)
    for i in range(4):
        assert set(shards[i]) <= set(grown[i])
    # known values, precomputed from sha1 (first 8 bytes, big-endian, mod 7): not Python's
    # salted hash(), and the same in every process
    assert [shard_of(c, 7) for c in IDS[:10]] == [4, 4, 3, 5, 5, 2, 5, 3, 6, 5]
    assert (
        shard_of("C024BE91L", 4)
        == int.from_bytes(__import__("hashlib").sha1(b"C024BE91L").digest()[:8], "big") % 4
    )
    with pytest.raises(ValueError):
        shard_of("C1", 0)


@pytest.mark.parametrize("profile", ["internal", "marketplace"])
@pytest.mark.parametrize("parallel", [1, 2, 3, 4, 6, 12])
def test_budget_split_never_exceeds_slacks_capacity(profile, parallel):
    """Holders of a lease together stay within every method's rate and burst."""
    slots = 12
    settings = LoadSettings(profile=profile)
    occupy = slots_per_process(parallel, slots, settings)
    holders = min(parallel, slots // occupy)  # the lease admits at most this many at once
    share = occupy / slots
    shared = apply_share(settings, share)
    # what the client of a shared process runs at (ingest.source client_for)
    limits = Limits(shared.profile, shared.limits, shared.time_scale).scaled(shared.budget_share)
    for method in (
        "conversations.history",
        "conversations.replies",
        "users.list",
        "conversations.list",
        "conversations.members",
        "auth.test",
    ):
        full = Limits(profile).budget(method)
        mine = limits.budget(method)
        assert holders * mine.burst <= full.burst, (method, holders, mine.burst)
        assert holders * mine.rate_per_min <= full.rate_per_min + 1e-9


def test_unlisted_profile_allows_one_process_at_a_time():
    settings = LoadSettings(profile="unlisted")
    assert min_burst(settings) == 1
    assert slots_per_process(4, 12, settings) == 12


def test_full_share_changes_nothing_and_user_bursts_are_scaled():
    s = LoadSettings(limits={"conversations.history": {"burst": 8, "rate_per_min": 40}})
    assert apply_share(s, 1.0) is s
    shared = apply_share(s, 0.25)
    assert shared.budget_share == 0.25
    assert shared.limits == s.limits  # the user's overrides are not rewritten
    limits = Limits(s.profile, shared.limits).scaled(shared.budget_share)
    assert limits.budget("conversations.history") == Budget(10.0, 2)
    assert limits.budget("conversations.replies").burst == math.floor(
        TIER_RATES["tier3"].burst * 0.25
    )
    with pytest.raises(ValueError):
        apply_share(s, 0)


@pytest.mark.parametrize(
    ("exc", "fatal"),
    [
        (SlackAuthError("auth.test", "invalid_auth"), True),
        (SlackMissingScopeError("conversations.history", "missing_scope"), True),
        (ConfigError("unknown channel(s) in channels: nope"), True),
        (SlackRetryExhaustedError("conversations.history", "http_503"), False),
        (SlackConnectionError("conversations.history", "connection_error"), False),
        (RuntimeError("Could not set lock on file slack.duckdb"), False),
    ],
)
def test_only_fatal_errors_skip_retries(exc, fatal):
    assert is_fatal(exc) is fatal
    wrapped = RuntimeError("pipeline step failed")
    wrapped.__cause__ = exc
    assert is_fatal(wrapped) is fatal


def test_parameters_round_trip_and_are_json():
    import json

    s = LoadSettings(channels=("general", "C1"), limits={"tier3": {"burst": 3}}).validate()
    params = settings_to_params(s)
    assert json.loads(json.dumps(params)) == params
    assert settings_from_params(params) == s
    assert target_from_params({"duckdb_path": "x.duckdb", "dataset": "d"}) == Target(
        duckdb_path="x.duckdb", dataset="d"
    )
    with pytest.raises(ConfigError):
        target_from_params({"nope": 1})


def test_summary_markdown_lists_shards_methods_and_skips():
    from flows.artifacts import artifact_key, summary_markdown

    summary = {
        "ok": False,
        "mode": "in-process",
        "n_shards": 2,
        "max_concurrency": 2,
        "wall_s": 3.2,
        "channels_planned": 3,
        "messages": 10,
        "replies": 4,
        "target": {"destination": "duckdb", "duckdb_path": "w.duckdb", "dataset": "slack"},
        "skipped": {"C9": "the token is not a member"},
        "error": "Slack request failed: http_503; rerun to continue",
        "requests": {"conversations.history": {"requests": 5, "n_429": 1, "retries": 2}},
        "shards": [
            {
                "label": "1/2",
                "channels": ["C1", "C2"],
                "state": "ok",
                "attempt": 2,
                "progress": {"messages": 10, "replies": 4},
                "requests": {"conversations.history": {"requests": 5, "n_429": 1}},
            },
            {
                "label": "2/2",
                "channels": ["C3"],
                "state": "failed",
                "error": "Slack request failed: http_503",
            },
        ],
    }
    md = summary_markdown(summary)
    assert "FAILED" in md and "| 1/2 | ok | 2 | 10 | 4 | 5 | 1 |" in md
    assert "| C9 | the token is not a member |" in md
    assert "conversations.history" in md
    assert artifact_key("summary", Target(dataset="Raw_Slack")) == "slack-ingest-summary-raw-slack"


@pytest.mark.parametrize("round_", range(3))
def test_limits_created_by_runs_starting_at_once(round_):
    """A served flow and a worker's run firing on the same minute both create the budget and
    DuckDB limits: neither may fail with ObjectAlreadyExists (prefect's upsert is read, then
    create)."""
    import threading
    import uuid

    from flows.concurrency import ensure_global_limit, read_global_limit

    name = f"race-{uuid.uuid4().hex[:8]}"
    start, errors = threading.Barrier(6), []

    def create() -> None:
        start.wait()
        try:
            ensure_global_limit(name, 3)
        except Exception as exc:  # noqa: BLE001 - collected for the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert int(read_global_limit(name).limit) == 3
