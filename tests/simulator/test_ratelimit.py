"""Server-side budgets: 429 + Retry-After over budget, none when paced, shared by tokens."""

from __future__ import annotations

import asyncio

import pytest

from ingest.simulator.ratelimit import METHOD_TIERS, TIER_RATES, format_retry_after, method_budget

from .conftest import Starter


def test_tier_table() -> None:
    assert TIER_RATES == {
        "tier1": (1.0, 2),
        "tier2": (20.0, 5),
        "tier3": (50.0, 10),
        "tier4": (100.0, 20),
        "auth.test": (600.0, 50),
    }
    assert METHOD_TIERS["conversations.history"] == "tier3"
    assert METHOD_TIERS["users.list"] == "tier2" and METHOD_TIERS["users.info"] == "tier4"
    assert method_budget("internal", "conversations.replies") == (50.0, 10)
    assert method_budget("marketplace", "conversations.replies") == (50.0, 10)
    assert method_budget("unlisted", "conversations.replies") == (1.0, 2)
    assert method_budget("unlisted", "conversations.list") == (20.0, 5)
    assert method_budget("unlimited", "conversations.history") is None


def test_retry_after_format() -> None:
    assert format_retry_after(0.75, 60) == "0.75"
    assert format_retry_after(0.0001, 60) == "0.001"
    assert format_retry_after(1.2, 60) == "1.2"
    assert format_retry_after(0.2, 1) == "1"  # Slack sends whole seconds, rounded up
    assert format_retry_after(59.01, 1) == "60"


async def test_burst_then_429_with_fractional_retry_after(serve: Starter) -> None:
    # unlisted history is tier 1: 1/min, burst 2; at 60x one token per real second
    env = await serve("tiny", profile="unlisted", time_scale=60)
    cid = env.ws.channels[1].id
    results = await asyncio.gather(
        *(env.client.call("conversations.history", channel=cid, limit=1) for _ in range(10))
    )
    limited = [r for r in results if r.status == 429]
    assert 2 <= sum(r.ok for r in results) <= 4 and len(limited) >= 6
    for r in limited:
        assert r.body == {"ok": False, "error": "ratelimited"}
        assert 0 < float(r.headers["Retry-After"]) <= 1.0  # 1 Slack-minute / 60
    # a request well inside the wait is told the fraction of a second left (a burst that
    # arrives within a millisecond is told "1": 0.9995 s rounds up)
    await asyncio.sleep(0.3)
    later = await env.client.call("conversations.history", channel=cid, limit=1)
    assert later.status == 429 and later.headers["Retry-After"].startswith("0.")
    assert 0.5 <= float(later.headers["Retry-After"]) <= 0.75
    # after the advertised wait the method works again
    await asyncio.sleep(float(later.headers["Retry-After"]) + 0.05)
    assert (await env.client.call("conversations.history", channel=cid, limit=1)).ok
    stats = env.sim.stats()["methods"]["conversations.history"]
    assert stats["n_429"] == len(limited) + 1
    assert stats["requests"] == 12
    # other methods have their own buckets
    assert (await env.client.call("conversations.info", channel=cid)).ok


async def test_integer_retry_after_at_real_time(serve: Starter) -> None:
    env = await serve("tiny", profile="unlisted", time_scale=1.0)
    cid = env.ws.channels[1].id
    rs = [await env.client.call("conversations.history", channel=cid) for _ in range(3)]
    assert [r.status for r in rs] == [200, 200, 429]  # tier 1: burst 2
    assert rs[2].headers["Retry-After"].isdigit() and 50 <= int(rs[2].headers["Retry-After"]) <= 60


async def test_paced_under_budget_never_429(serve: Starter) -> None:
    env = await serve("tiny", profile="internal", time_scale=120)
    cid = env.ws.channels[1].id
    # tier 2 (users.list) at 120x is 40/s burst 5: 30 requests at ~20/s stay far below it
    for k in range(30):
        r = await env.client.call("users.list", limit=2)
        assert r.status == 200, (k, r.headers)
        await asyncio.sleep(0.05)  # relative pacing: a stalled loop never makes us catch up
    s = env.sim.stats()
    assert s["methods"]["users.list"]["n_429"] == 0
    assert s["window_s"] == 0.5
    assert s["max_window"]["users.list"] <= 20 + 5  # a Slack-minute's rate plus the burst
    assert (await env.client.call("conversations.history", channel=cid)).ok


async def test_all_tokens_share_the_workspace_budget(serve: Starter) -> None:
    env = await serve("tiny", profile="unlisted", time_scale=1.0)
    env.sim.add_token("xoxb-other")
    cid = env.ws.channels[1].id
    a = await env.client.call("conversations.replies", channel=cid, ts="1.0")
    b = await env.client.call("conversations.replies", channel=cid, ts="1.0", token="xoxb-other")
    c = await env.client.call("conversations.replies", channel=cid, ts="1.0", token="xoxb-other")
    assert (a.status, b.status, c.status) == (200, 200, 429)


async def test_invalid_tokens_do_not_consume_budget(serve: Starter) -> None:
    env = await serve("tiny", profile="unlisted", time_scale=60)
    cid = env.ws.channels[1].id
    for _ in range(5):
        assert (
            await env.client.call("conversations.history", channel=cid, token="bad")
        ).error == "invalid_auth"
    assert (await env.client.call("conversations.history", channel=cid)).ok


@pytest.mark.parametrize("profile", ["unlimited"])
async def test_unlimited_profile(serve: Starter, profile: str) -> None:
    env = await serve("tiny", profile=profile, time_scale=1.0)
    rs = await asyncio.gather(*(env.client.call("users.list") for _ in range(60)))
    assert all(r.ok for r in rs)


async def test_max_window_counts_requests_in_a_slack_minute(serve: Starter) -> None:
    env = await serve("tiny", profile="unlimited", time_scale=6)
    await asyncio.gather(*(env.client.call("auth.test") for _ in range(12)))
    s = env.sim.stats()
    assert s["window_s"] == 10.0
    assert s["max_window"]["auth.test"] == 12
