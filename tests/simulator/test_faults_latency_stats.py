"""Injected faults as a client sees them, added latency, and the stats counters."""

from __future__ import annotations

import asyncio
import time

import aiohttp
import orjson
import pytest

from ingest.simulator import FAULT_KINDS, FaultSpec, SimulatorConfigError

from .conftest import Env, Starter


def test_fault_spec_parse() -> None:
    spec = FaultSpec.parse(" http503=0.1, reset=0.05 ,seed=7,slow_s=0.5,storm_s=10 ")
    assert spec.probs == (("http503", 0.1), ("reset", 0.05))
    assert (spec.seed, spec.slow_s, spec.storm_s) == (7, 0.5, 10.0)
    assert FaultSpec.parse(str(spec)) == spec
    assert not FaultSpec.parse("").enabled and not FaultSpec.parse(None).enabled
    assert len(FAULT_KINDS) == 12


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("http418=0.1", "unknown fault kind 'http418'"),
        ("reset", "expected kind=probability"),
        ("reset=lots", "is not a number"),
        ("reset=1.5", "not in [0, 1]"),
        ("reset=0.6,http500=0.6", "sum to 1.2 > 1"),
        ("reset=0.1,reset=0.2", "given twice"),
        ("seed=x", "is not a number"),
        ("slow_s=-1", "must be >= 0"),
    ],
)
def test_fault_spec_errors(spec: str, message: str) -> None:
    with pytest.raises(
        SimulatorConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
    ) as e:
        FaultSpec.parse(spec)
    assert "\n" not in str(e.value)
    assert isinstance(e.value, ValueError)


@pytest.mark.parametrize("code", [500, 502, 503, 504])
async def test_http_errors_have_html_bodies(serve: Starter, code: int) -> None:
    env = await serve("tiny", faults=f"http{code}=1")
    r = await env.client.call("auth.test")
    assert r.status == code and "<html>" in r.body["_html"]


async def test_reset_drops_the_connection(serve: Starter) -> None:
    env = await serve("tiny", faults="reset=1")
    for _ in range(2):
        with pytest.raises((aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)):
            await env.client.call("auth.test")
    env.sim.set_faults(None)
    assert (await env.client.call("auth.test")).ok  # the pool recovers


async def test_badjson_is_truncated(serve: Starter) -> None:
    env = await serve("tiny", faults="badjson=1")
    async with env.client.session.get(
        env.sim.base_url + "users.list", headers={"Authorization": f"Bearer {env.ws.token}"}
    ) as r:
        assert r.status == 200 and r.content_type == "application/json"
        raw = await r.read()
    with pytest.raises(orjson.JSONDecodeError):
        orjson.loads(raw)
    assert raw.startswith(b'{"ok":true')


@pytest.mark.parametrize(
    "kind", ["internal_error", "fatal_error", "service_unavailable", "request_timeout"]
)
async def test_ok_false_transient_errors(serve: Starter, kind: str) -> None:
    env = await serve("tiny", faults=f"{kind}=1")
    r = await env.client.call("conversations.list")
    assert (r.status, r.body) == (200, {"ok": False, "error": kind})


async def test_slow_responses(serve: Starter) -> None:
    env = await serve("tiny", faults="slow=1,slow_s=0.3")
    t = time.monotonic()
    r = await env.client.call("auth.test")
    assert r.ok and time.monotonic() - t >= 0.3


async def test_storm_answers_429_for_storm_s_scaled(serve: Starter) -> None:
    env = await serve("tiny", faults="storm=1,storm_s=600", time_scale=60)  # 10 real seconds
    first = await env.client.call("auth.test")
    assert first.status == 429 and first.body["error"] == "ratelimited"
    assert first.headers["Retry-After"] == "10"
    env.sim.set_faults("")  # the storm already started keeps going
    during = await env.client.call("auth.test")
    assert during.status == 429 and 5 < float(during.headers["Retry-After"]) <= 10
    assert (await env.client.call("team.info")).ok  # only that method storms
    short = await serve("tiny", faults="storm=1,storm_s=6", time_scale=60)  # 0.1 real seconds
    r = await short.client.call("auth.test")
    assert r.status == 429 and r.headers["Retry-After"] == "0.1"
    short.sim.set_faults(None)
    await asyncio.sleep(0.2)
    assert (await short.client.call("auth.test")).ok  # the storm is over


async def test_fault_outcomes_follow_the_seed(serve: Starter) -> None:
    async def outcomes(seed: int) -> list[str]:
        env = await serve("tiny", faults=f"internal_error=0.3,fatal_error=0.3,seed={seed}")
        return [(await env.client.call("auth.test")).error or "ok" for _ in range(40)]

    a, b, c = await outcomes(1), await outcomes(1), await outcomes(2)
    assert a == b and a != c
    assert {"ok", "internal_error", "fatal_error"} == set(a)


async def test_faults_never_hit_admin_endpoints(serve: Starter) -> None:
    env = await serve("tiny", faults="http500=1")
    async with env.client.session.get(env.sim.url + "/_sim/health") as r:
        assert r.status == 200 and (await r.json())["ok"]
    async with env.client.session.get(env.sim.url + "/_sim/stats") as r:
        assert r.status == 200


async def test_set_faults_at_runtime_and_over_http(tiny: Env) -> None:
    assert (await tiny.client.call("auth.test")).ok
    tiny.sim.set_faults("http503=1")
    assert (await tiny.client.call("auth.test")).status == 503
    async with tiny.client.session.post(
        tiny.sim.url + "/_sim/faults", json={"spec": "fatal_error=1"}
    ) as r:
        assert r.status == 200 and (await r.json())["spec"].startswith("fatal_error=1")
    assert (await tiny.client.call("auth.test")).error == "fatal_error"
    async with tiny.client.session.post(
        tiny.sim.url + "/_sim/faults", json={"spec": "nope=1"}
    ) as r:
        assert r.status == 400 and "unknown fault kind" in (await r.json())["error"]
    async with tiny.client.session.post(tiny.sim.url + "/_sim/faults", json={"spec": ""}) as r:
        assert r.status == 200
    assert (await tiny.client.call("auth.test")).ok


async def test_latency_is_added_to_every_response(serve: Starter) -> None:
    env = await serve("tiny", latency_ms=150)
    t = time.monotonic()
    results = await asyncio.gather(
        env.client.call("auth.test"),
        env.client.call("auth.test", token="bad"),
        env.client.call("nope.nope"),
    )
    elapsed = time.monotonic() - t
    assert elapsed >= 0.15
    assert elapsed < 3  # concurrent requests wait in parallel
    assert [r.status for r in results] == [200, 200, 200]


async def test_stats_counters(serve: Starter) -> None:
    env = await serve("tiny", profile="unlisted", time_scale=1.0)
    c = env.client
    cid = env.ws.channels[1].id
    r1 = await c.call("conversations.history", channel=cid)
    await c.call("conversations.history", channel=cid)
    r3 = await c.call("conversations.history", channel=cid)  # tier 1 burst 2 -> 429
    assert r3.status == 429
    await c.call("conversations.info", channel="CNOPE")  # ok:false
    env.sim.set_faults("http502=1")
    await c.call("users.list")
    s = env.sim.stats(timeline=True)
    h = s["methods"]["conversations.history"]
    assert (h["requests"], h["n_429"], h["errors"], h["items"]) == (
        3,
        1,
        0,
        2 * len(r1.body["messages"]),
    )
    assert 0 <= h["first_at"] <= h["last_at"]
    assert s["methods"]["conversations.info"]["errors"] == 1
    assert s["methods"]["users.list"]["errors"] == 1
    assert s["totals"] == {"requests": 5, "n_429": 1, "errors": 2, "items": h["items"]}
    assert s["faults"] == {"http502": 1}
    assert [e[1:] for e in s["timeline"]] == [
        ["conversations.history", 200],
        ["conversations.history", 200],
        ["conversations.history", 429],
        ["conversations.info", 200],
        ["users.list", 502],
    ]
    assert "timeline" not in env.sim.stats()
    # the same over HTTP, then reset
    async with c.session.get(env.sim.url + "/_sim/stats", params={"timeline": "1"}) as r:
        body = await r.json()
    assert body["totals"] == s["totals"] and len(body["timeline"]) == 5
    async with c.session.post(env.sim.url + "/_sim/stats/reset") as r:
        assert (await r.json()) == {"ok": True}
    assert env.sim.stats()["totals"]["requests"] == 0
    env.sim.reset_stats()
    assert env.sim.stats()["methods"] == {}
