"""The client against the local Slack simulator over loopback (real HTTP, real pacing)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from ingest.slack import (
    AsyncSlackClient,
    NotInChannelError,
    RetryPolicy,
    SlackAuthError,
    SlackMissingScopeError,
)

simulator = pytest.importorskip("ingest.simulator")
if not hasattr(simulator, "serve_simulator"):  # pragma: no cover - only while it is being built
    pytest.skip("ingest.simulator has no server yet", allow_module_level=True)

Workspace = simulator.Workspace
serve_simulator = simulator.serve_simulator

TIME_SCALE = 60.0


@pytest.fixture(scope="module")
def tiny() -> Any:
    return Workspace.generate("tiny", seed=0)


async def fetch_all(client: AsyncSlackClient, concurrency: int = 16) -> set[tuple[str, str]]:
    """Every (channel, ts) readable with this token: history of each member channel, then the
    replies of every thread parent, channels fetched concurrently."""
    channel_ids: list[str] = []
    async for page in client.paginate(
        "conversations.list", types="public_channel,private_channel,im,mpim", exclude_archived=False
    ):
        # a listed im is one the token is in (ims carry no is_member)
        channel_ids += [c["id"] for c in page["channels"] if c.get("is_member") or c.get("is_im")]
    keys: set[tuple[str, str]] = set()
    gate = asyncio.Semaphore(concurrency)

    async def thread(channel: str, ts: str) -> None:
        async with gate:
            async for page in client.paginate("conversations.replies", channel=channel, ts=ts):
                keys.update((channel, m["ts"]) for m in page["messages"])

    async def channel(channel_id: str) -> None:
        parents: list[str] = []
        async with gate:
            async for page in client.paginate(
                "conversations.history", channel=channel_id, oldest="0"
            ):
                for message in page["messages"]:
                    keys.add((channel_id, message["ts"]))
                    if message.get("reply_count") and message.get("thread_ts") == message["ts"]:
                        parents.append(message["ts"])
        await asyncio.gather(*(thread(channel_id, ts) for ts in parents))

    await asyncio.gather(*(channel(c) for c in channel_ids))
    return keys


async def test_fetch_everything_exactly_without_a_single_429(tiny: Any) -> None:
    truth = tiny.truth()
    async with serve_simulator(tiny, profile="internal", time_scale=TIME_SCALE) as sim:
        async with AsyncSlackClient(
            tiny.token, base_url=sim.base_url, profile="internal", time_scale=TIME_SCALE
        ) as client:
            assert client.team_id == truth.team_id
            keys = await fetch_all(client)
        stats = sim.stats()
    assert keys == set(truth.messages)
    assert stats["totals"]["n_429"] == 0
    client_stats = client.stats.as_dict()
    assert client_stats["conversations.history"]["items"] >= 1
    assert sum(row["n_429"] for row in client_stats.values()) == 0
    assert stats["totals"]["requests"] == client.stats.totals()["requests"]


async def test_not_in_channel_and_missing_scope(tiny: Any) -> None:
    truth = tiny.truth()
    outside = sorted(truth.channel_ids - truth.readable_channel_ids)
    async with serve_simulator(tiny, time_scale=TIME_SCALE) as sim:
        if not outside:
            outside = [sim.workspace.add_channel("not-a-member", is_member=False)]
        async with AsyncSlackClient(
            tiny.token, base_url=sim.base_url, time_scale=TIME_SCALE
        ) as client:
            with pytest.raises(NotInChannelError) as info:
                await client.call("conversations.history", channel=outside[0])
            assert info.value.channel == outside[0]
            assert tiny.token not in str(info.value)
        sim.add_token("xoxb-sim-noscope-0001", scopes={"channels:read"})
        async with AsyncSlackClient(
            "xoxb-sim-noscope-0001", base_url=sim.base_url, time_scale=TIME_SCALE
        ) as client:
            with pytest.raises(SlackMissingScopeError) as scope:
                await client.call("users.list")
            assert scope.value.needed and scope.value.needed in str(scope.value)


async def test_revoked_token_fails_at_async_with(tiny: Any) -> None:
    async with serve_simulator(tiny, time_scale=TIME_SCALE) as sim:
        sim.add_token("xoxb-revoked-0001", revoked=True)
        client = AsyncSlackClient("xoxb-revoked-0001", base_url=sim.base_url, time_scale=TIME_SCALE)
        with pytest.raises(SlackAuthError) as info:
            async with client:
                pytest.fail("auth.test should have failed")
        assert info.value.code == "token_revoked"
        assert "xoxb-revoked-0001" not in str(info.value)
        assert client.closed


async def test_faults_still_give_the_exact_set(tiny: Any) -> None:
    truth = tiny.truth()
    faults = "http503=0.2,reset=0.1,badjson=0.1,internal_error=0.1,seed=3"
    async with serve_simulator(
        tiny, profile="internal", time_scale=TIME_SCALE, faults=faults
    ) as sim:
        client = AsyncSlackClient(
            tiny.token,
            base_url=sim.base_url,
            time_scale=TIME_SCALE,
            max_attempts=25,  # P(25 failures in a row at 50%) ~ 3e-8 per call
        )
        # keep the real backoff shape but small, so the test stays fast
        client.retry_policy = RetryPolicy(
            max_attempts=25, max_total_wait_s=60.0, base_s=0.02, cap_s=0.5
        )
        async with client:
            keys = await fetch_all(client)
        stats = sim.stats()
    assert keys == set(truth.messages)
    totals = client.stats.totals()
    assert totals["retries"] > 0 and totals["errors"] > 0
    assert stats["totals"]["errors"] > 0
    assert stats["totals"]["n_429"] == 0


@pytest.mark.slow
async def test_pacing_at_full_budget_without_429s_on_a_bigger_workspace() -> None:
    """~300 requests at time_scale 120: replies saturate tier 3 for ~2.5 s. The simulator shares
    our event loop, so its page rendering stalls arrivals: the in-flight cap and the late-answer
    re-charge must keep that from turning into 429s."""
    ws = Workspace.generate("small", seed=0)
    truth = ws.truth()
    time_scale = 120.0
    async with serve_simulator(ws, profile="internal", time_scale=time_scale) as sim:
        async with AsyncSlackClient(
            ws.token, base_url=sim.base_url, time_scale=time_scale
        ) as client:
            keys = await fetch_all(client, concurrency=32)
        stats = sim.stats(timeline=True)
    assert keys == set(truth.messages)
    assert stats["totals"]["n_429"] == 0
    replies = sorted(t for t, m, _ in stats["timeline"] if m == "conversations.replies")
    budget = client.budget("conversations.replies")
    assert budget.rate_per_min is not None
    interval = 60.0 / (budget.rate_per_min * time_scale)
    # never faster than the budget: after the burst, one request per interval at most
    # (slack for one burst of arrival jitter at either end)
    assert replies[-1] - replies[0] >= (len(replies) - 2 * budget.burst) * interval * 0.9


async def test_429_storms_are_waited_out(tiny: Any) -> None:
    truth = tiny.truth()
    faults = "storm=0.05,storm_s=6,seed=5"  # 6 Slack-seconds = 0.1 s of 429s per storm
    async with serve_simulator(tiny, time_scale=TIME_SCALE, faults=faults) as sim:
        async with AsyncSlackClient(
            tiny.token, base_url=sim.base_url, time_scale=TIME_SCALE
        ) as client:
            keys = await fetch_all(client)
        stats = sim.stats()
    assert keys == set(truth.messages)
    assert stats["totals"]["n_429"] > 0
    totals = client.stats.totals()
    assert totals["n_429"] == stats["totals"]["n_429"]
    assert totals["retries"] >= totals["n_429"]


async def test_unlisted_profile_pages_of_15_without_429s(tiny: Any) -> None:
    truth = tiny.truth()
    time_scale = 600.0  # tier 1 (1/min) becomes 10 requests per second
    counts: dict[str, int] = {}
    for channel, _ in truth.messages:
        counts[channel] = counts.get(channel, 0) + 1
    async with serve_simulator(tiny, profile="unlisted", time_scale=time_scale) as sim:
        async with AsyncSlackClient(
            tiny.token, base_url=sim.base_url, profile="unlisted", time_scale=time_scale
        ) as client:
            channel = max(truth.readable_channel_ids, key=lambda c: counts.get(c, 0))
            sizes = [
                len(page["messages"])
                async for page in client.paginate(
                    "conversations.history", channel=channel, oldest="0"
                )
            ]
        stats = sim.stats()
    assert len(sizes) >= 2 and max(sizes) <= 15
    assert stats["totals"]["n_429"] == 0
