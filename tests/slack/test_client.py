"""AsyncSlackClient unit tests through ``FakeSlack`` on ``MockTransport`` (no network)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import socket
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from ingest.slack import (
    AsyncSlackClient,
    ChannelNotFoundError,
    IsArchivedError,
    NotInChannelError,
    SlackAuthError,
    SlackConnectionError,
    SlackError,
    SlackFatalError,
    SlackMissingScopeError,
    SlackRequestError,
    SlackResourceError,
    SlackRetryExhaustedError,
    ThreadNotFoundError,
    TransportRequest,
    TransportResponse,
    redact,
)
from tests.slack.conftest import BASE, TOKEN, assert_clean
from tests.slack.fake_slack import FakeSlack, reply

HTML_503 = "<html><body><h1>503 Service Unavailable</h1></body></html>"


def url(method: str) -> str:
    return BASE + method


def sent(m: FakeSlack, method: str) -> list[TransportRequest]:
    """The recorded requests to ``method`` (each has .form and .headers)."""
    return m.sent(method)


def auth_ok(m: FakeSlack) -> None:
    m.post(
        url("auth.test"),
        payload={
            "ok": True,
            "team_id": "T0001",
            "user_id": "U0001",
            "bot_id": "B0001",
            "team": "t",
        },
    )


def fast(client: AsyncSlackClient, **changes: Any) -> AsyncSlackClient:
    """Tiny deterministic backoff so retry tests take milliseconds."""
    client.retry_policy = dataclasses.replace(
        client.retry_policy, base_s=0.001, cap_s=0.004, rng=random.Random(1), **changes
    )
    return client


def make_client(m: FakeSlack | None = None, **kwargs: Any) -> AsyncSlackClient:
    """A fast client; through ``m``'s transport if given (else the real aiohttp one)."""
    kwargs.setdefault("time_scale", 600.0)
    if m is not None:
        kwargs.setdefault("transport", m.transport)
    return fast(AsyncSlackClient(TOKEN, **kwargs))


@pytest.fixture
def fake() -> FakeSlack:
    return FakeSlack()


@pytest.fixture
def m(fake: FakeSlack) -> FakeSlack:
    auth_ok(fake)
    return fake


@pytest.fixture
async def client(m: FakeSlack) -> AsyncIterator[AsyncSlackClient]:
    async with make_client(m) as c:
        yield c


# -- lifecycle, auth, transport --------------------------------------------------------------


async def test_auth_test_sets_identity_and_token_goes_in_the_header_only(m: FakeSlack) -> None:
    client = make_client(m)
    async with client:
        assert (client.team_id, client.user_id, client.bot_id) == ("T0001", "U0001", "B0001")
        assert client.workspace_key == f"{BASE}|T0001"
        assert not client.closed
    assert client.closed
    (call,) = sent(m, "auth.test")
    assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(dict(call.form))
    for request in m.requests:
        assert TOKEN not in request.url
        assert "?" not in request.url


async def test_call_form_encodes_params(m: FakeSlack, client: AsyncSlackClient) -> None:
    m.post(url("conversations.info"), payload={"ok": True, "channel": {"id": "C1"}})
    data = await client.call(
        "conversations.info", channel="C1", include_num_members=True, types=["a", "b"], x=None
    )
    assert data["channel"] == {"id": "C1"}
    (call,) = sent(m, "conversations.info")
    assert dict(call.form) == {"channel": "C1", "include_num_members": "true", "types": "a,b"}


async def test_explicit_workspace_key_is_used(m: FakeSlack) -> None:
    async with make_client(m, workspace_key="acme") as c:
        assert c.workspace_key == "acme"
        assert c.bucket("conversations.history") is c.bucket("conversations.history")


async def test_call_before_open_and_token_param_are_refused(m: FakeSlack) -> None:
    client = make_client(m)
    with pytest.raises(RuntimeError, match="async with"):
        await client.call("team.info")
    async with client:
        with pytest.raises(ValueError, match="token"):
            await client.call("team.info", token="xoxb-other")
        with pytest.raises(ValueError, match="method"):
            await client.call("../admin")


def test_constructor_validates() -> None:
    with pytest.raises(ValueError, match="profile"):
        AsyncSlackClient(TOKEN, profile="fast")
    with pytest.raises(ValueError, match="time_scale"):
        AsyncSlackClient(TOKEN, time_scale=0)
    with pytest.raises(ValueError, match="token"):
        AsyncSlackClient("")
    with pytest.raises(ValueError, match="tier9"):
        AsyncSlackClient(TOKEN, overrides={"tier9": {"rate_per_min": 1}})
    with pytest.raises(ValueError, match="max_attempts"):
        AsyncSlackClient(TOKEN, max_attempts=0)


# -- pagination -------------------------------------------------------------------------------


def page(messages: int, cursor: Any = "__missing__", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ok": True, "messages": [{"ts": f"{i}.0"} for i in range(messages)]}
    if cursor != "__missing__":
        body["response_metadata"] = {"next_cursor": cursor}
    body.update(extra)
    return body


@pytest.mark.parametrize("last", ["", None, "__missing__"])
async def test_paginate_follows_cursor_through_short_and_empty_pages(
    m: FakeSlack, client: AsyncSlackClient, last: Any
) -> None:
    m.post(url("conversations.history"), payload=page(3, "dXNlcjpVMDYx=="))
    m.post(url("conversations.history"), payload=page(0, "bmV4dA=="))  # empty, cursor alive
    m.post(url("conversations.history"), payload=page(1, "dGhpcmQ="))  # short, cursor alive
    m.post(url("conversations.history"), payload=page(2, last))
    pages = [p async for p in client.paginate("conversations.history", channel="C1", oldest="0")]
    assert [len(p["messages"]) for p in pages] == [3, 0, 1, 2]
    calls = sent(m, "conversations.history")
    assert [c.form.get("cursor") for c in calls] == [
        None,
        "dXNlcjpVMDYx==",
        "bmV4dA==",
        "dGhpcmQ=",
    ]
    assert all(c.form["limit"] == "200" for c in calls)
    assert all(c.form["channel"] == "C1" for c in calls)
    stats = client.stats.get("conversations.history")
    assert (stats.pages, stats.items, stats.requests) == (4, 6, 4)


async def test_paginate_page_size_from_profile_and_explicit_limit(m: FakeSlack) -> None:
    m.post(url("conversations.replies"), payload=page(1, ""))
    m.post(url("conversations.replies"), payload=page(1, ""))
    async with make_client(m, profile="unlisted") as c:
        assert c.page_size("conversations.replies") == 15
        assert c.page_size("conversations.list") == 999
        [p async for p in c.paginate("conversations.replies", channel="C1", ts="1.0")]
        [p async for p in c.paginate("conversations.replies", channel="C1", ts="1.0", limit=7)]
    calls = sent(m, "conversations.replies")
    assert [c.form["limit"] for c in calls] == ["15", "7"]


async def test_page_size_override(m: FakeSlack) -> None:
    overrides = {"conversations.history": {"page_size": 100}}
    async with make_client(m, overrides=overrides) as c:
        assert c.page_size("conversations.history") == 100
        assert c.page_size("users.list") == 200


async def test_paginate_starting_cursor_and_repeated_cursor(
    m: FakeSlack, client: AsyncSlackClient
) -> None:
    m.post(url("conversations.list"), payload={"ok": True, "channels": [], **_meta("same")})
    with pytest.raises(SlackError) as info:
        [p async for p in client.paginate("conversations.list", cursor="same")]
    assert info.value.code == "repeated_cursor"
    assert sent(m, "conversations.list")[0].form["cursor"] == "same"
    assert_clean(info.value)


def _meta(cursor: str) -> dict[str, Any]:
    return {"response_metadata": {"next_cursor": cursor}}


# -- typed errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("invalid_auth", SlackAuthError),
        ("not_authed", SlackAuthError),
        ("token_revoked", SlackAuthError),
        ("token_expired", SlackAuthError),
        ("account_inactive", SlackAuthError),
        ("no_permission", SlackFatalError),
        ("channel_not_found", ChannelNotFoundError),
        ("not_in_channel", NotInChannelError),
        ("is_archived", IsArchivedError),
        ("invalid_cursor", SlackRequestError),
        ("invalid_arguments", SlackRequestError),
        ("invalid_ts_latest", SlackRequestError),
        ("invalid_ts_oldest", SlackRequestError),
        ("limit_required", SlackRequestError),
        ("invalid_limit", SlackRequestError),
        ("unknown_method", SlackRequestError),
        ("paid_only", SlackError),
        ("something_new", SlackError),
    ],
)
async def test_error_codes_map_to_classes_and_are_not_retried(
    m: FakeSlack, client: AsyncSlackClient, code: str, cls: type[SlackError]
) -> None:
    m.post(url("conversations.history"), payload={"ok": False, "error": code}, repeat=True)
    with pytest.raises(SlackError) as info:
        await client.call("conversations.history", channel="C9")
    error = info.value
    assert type(error) is cls
    assert error.code == code and error.method == "conversations.history"
    assert "conversations.history" in str(error) and code in str(error)
    if isinstance(error, SlackResourceError):
        assert error.channel == "C9"
        assert "C9" in str(error)
    assert len(sent(m, "conversations.history")) == 1
    stats = client.stats.get("conversations.history")
    assert (stats.requests, stats.errors, stats.retries) == (1, 1, 0)
    assert_clean(error)


async def test_thread_not_found_carries_channel_and_ts(
    m: FakeSlack, client: AsyncSlackClient
) -> None:
    m.post(url("conversations.replies"), payload={"ok": False, "error": "thread_not_found"})
    with pytest.raises(ThreadNotFoundError) as info:
        await client.call("conversations.replies", channel="C7", ts="1700000000.000100")
    assert (info.value.channel, info.value.ts) == ("C7", "1700000000.000100")
    assert "1700000000.000100" in str(info.value)
    assert isinstance(info.value, SlackResourceError)
    assert_clean(info.value)


async def test_missing_scope_names_needed_and_provided(
    m: FakeSlack, client: AsyncSlackClient
) -> None:
    m.post(
        url("users.list"),
        payload={
            "ok": False,
            "error": "missing_scope",
            "needed": "users:read",
            "provided": "channels:history,channels:read",
        },
    )
    with pytest.raises(SlackMissingScopeError) as info:
        await client.call("users.list")
    error = info.value
    assert isinstance(error, SlackFatalError)
    assert (error.needed, error.provided) == ("users:read", "channels:history,channels:read")
    assert "users:read" in str(error) and "channels:history,channels:read" in str(error)
    assert "users.list" in str(error)
    assert len(sent(m, "users.list")) == 1
    assert_clean(error)


async def test_auth_failure_surfaces_at_async_with(fake: FakeSlack) -> None:
    fake.post(url("auth.test"), payload={"ok": False, "error": "token_revoked"})
    client = make_client(fake)
    with pytest.raises(SlackAuthError) as info:
        async with client:
            pytest.fail("should not get here")
    assert info.value.code == "token_revoked"
    assert client.closed
    assert len(sent(fake, "auth.test")) == 1
    assert_clean(info.value)


async def test_http_4xx_bodies(m: FakeSlack, client: AsyncSlackClient) -> None:
    m.post(url("team.info"), status=404, body="<html>not found</html>", content_type="text/html")
    with pytest.raises(SlackError) as info:
        await client.call("team.info")
    assert info.value.code == "http_404" and type(info.value) is SlackError
    m.post(url("team.info"), status=400, payload={"ok": False, "error": "invalid_arguments"})
    with pytest.raises(SlackRequestError):
        await client.call("team.info")
    assert len(sent(m, "team.info")) == 2


# -- 429 ------------------------------------------------------------------------------------------


async def test_429_honours_fractional_retry_after_for_every_user_of_the_bucket(
    m: FakeSlack, client: AsyncSlackClient
) -> None:
    times: list[float] = []

    def record(request: TransportRequest) -> None:
        times.append(time.monotonic())

    m.post(
        url("conversations.history"),
        status=429,
        headers={"Retry-After": "0.15"},
        payload={"ok": False, "error": "ratelimited"},
        callback=record,
    )
    m.post(url("conversations.history"), payload=page(2, ""), callback=record, repeat=True)

    async def later_user() -> dict[str, Any]:
        await asyncio.sleep(0.02)  # starts after the 429 has been seen
        return await client.call("conversations.history", channel="C2")

    results = await asyncio.gather(client.call("conversations.history", channel="C1"), later_user())
    assert all(r["ok"] for r in results)
    # the first request got the 429; its retry AND the other caller waited for Retry-After
    assert len(times) == 3
    assert min(times[1:]) - times[0] >= 0.15 - 0.005
    bucket = client.bucket("conversations.history")
    assert bucket.n_429 == 1
    stats = client.stats.get("conversations.history")
    assert (stats.n_429, stats.retries, stats.requests, stats.errors) == (1, 1, 3, 0)
    assert stats.wait_budget_s >= 0.14


async def test_429_without_retry_after_waits_one_slack_second(m: FakeSlack) -> None:
    times: list[float] = []

    def record(request: TransportRequest) -> None:
        times.append(time.monotonic())

    m.post(url("team.info"), status=429, body="", callback=record)
    m.post(url("team.info"), payload={"ok": True, "team": {}}, callback=record)
    async with make_client(m, time_scale=20.0) as c:  # 1 Slack-second = 0.05 s
        await c.call("team.info")
        assert c.stats.get("team.info").n_429 == 1
    assert times[1] - times[0] >= 0.05 - 0.005


async def test_ratelimited_in_a_200_body_is_a_429(m: FakeSlack, client: AsyncSlackClient) -> None:
    m.post(url("team.info"), payload={"ok": False, "error": "ratelimited"})
    m.post(url("team.info"), payload={"ok": True, "team": {}})
    await client.call("team.info")
    assert client.stats.get("team.info").n_429 == 1


async def test_429_longer_than_the_retry_budget_fails_at_once(m: FakeSlack) -> None:
    m.post(url("team.info"), status=429, headers={"Retry-After": "30"}, repeat=True)
    async with make_client(m, max_retry_wait_s=5.0) as c:
        with pytest.raises(SlackRetryExhaustedError) as info:
            await c.call("team.info")
        assert info.value.code == "ratelimited"
        assert len(sent(m, "team.info")) == 1
        # the block stays for everyone else
        assert c.bucket("team.info").blocked_until > time.monotonic() + 20
        assert_clean(info.value)


async def test_429s_do_not_use_up_attempts_but_are_capped(m: FakeSlack) -> None:
    m.post(url("team.info"), status=429, headers={"Retry-After": "0"}, repeat=True)
    async with make_client(m, max_attempts=2) as c:
        with pytest.raises(SlackRetryExhaustedError) as info:
            await c.call("team.info")
    assert info.value.code == "ratelimited"
    # 2 attempts for transient failures, but 10 * 2 429s allowed before giving up
    assert len(sent(m, "team.info")) == 21


# -- transient failures ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "body": HTML_503, "content_type": "text/html"},
        {"status": 500, "body": HTML_503, "content_type": "text/html"},
        {"status": 502, "body": ""},
        {"status": 200, "body": '{"ok": true, "messages": [{"ts": "1.0"'},  # truncated
        {"status": 200, "body": "<html>oops</html>", "content_type": "text/html"},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": aiohttp.ClientOSError(104, "Connection reset by peer")},
        {"exception": aiohttp.ClientPayloadError("Response payload is not completed")},
        {"exception": TimeoutError()},
        {"payload": {"ok": False, "error": "internal_error"}},
        {"payload": {"ok": False, "error": "fatal_error"}},
        {"payload": {"ok": False, "error": "service_unavailable"}},
        {"payload": {"ok": False, "error": "request_timeout"}},
    ],
)
async def test_transient_failure_then_success(
    m: FakeSlack, client: AsyncSlackClient, failure: dict[str, Any]
) -> None:
    m.post(url("conversations.history"), **failure)
    m.post(url("conversations.history"), **failure)
    m.post(url("conversations.history"), payload=page(5, ""))
    data = await client.call("conversations.history", channel="C1")
    assert len(data["messages"]) == 5
    stats = client.stats.get("conversations.history")
    assert (stats.requests, stats.retries, stats.errors, stats.items) == (3, 2, 2, 5)


async def test_retries_exhausted_after_max_attempts(m: FakeSlack) -> None:
    m.post(url("team.info"), status=503, body=HTML_503, repeat=True)
    async with make_client(m, max_attempts=3) as c:
        with pytest.raises(SlackRetryExhaustedError) as info:
            await c.call("team.info")
        error = info.value
        assert error.code == "http_503" and error.attempts == 3
        assert "team.info" in str(error) and "503" in str(error)
        assert len(sent(m, "team.info")) == 3
        assert c.stats.get("team.info").retries == 2
        assert_clean(error)


class _MaxRandom(random.Random):
    """Full jitter always at its ceiling: deterministic waits base * 2**(n-1)."""

    def uniform(self, a: float, b: float) -> float:
        return b


async def test_retries_exhausted_by_total_wait(m: FakeSlack) -> None:
    m.post(url("team.info"), payload={"ok": False, "error": "internal_error"}, repeat=True)
    async with make_client(m, max_attempts=100, max_retry_wait_s=0.05) as c:
        # a clock that stands still: only the sleeps count (no request overhead)
        c.retry_policy = dataclasses.replace(
            c.retry_policy, base_s=0.01, cap_s=10.0, rng=_MaxRandom(), clock=lambda: 0.0
        )
        with pytest.raises(SlackRetryExhaustedError) as info:
            await c.call("team.info")
    # waits 0.01 + 0.02, then the next 0.04 is cut to the 0.02 left of the budget; the 4th
    # failure finds the budget spent: the whole budget is used, never crossed
    assert len(sent(m, "team.info")) == 4
    assert info.value.code == "internal_error"
    assert info.value.waited_s == pytest.approx(0.05)
    assert info.value.waited_s <= 0.05 + 1e-9
    assert c.stats.get("team.info").wait_retry_s == pytest.approx(0.05)
    assert "internal_error" in str(info.value) and "gave up after 4 attempt(s)" in str(info.value)


async def test_time_queued_between_retries_counts_against_the_budget(m: FakeSlack) -> None:
    """The budget is real time since the first failure, not only the backoff sleeps: retries
    that queue behind a busy rate budget do not stretch an outage past it."""
    m.post(url("team.info"), payload={"ok": False, "error": "internal_error"}, repeat=True)
    now = [0.0]

    def clock() -> float:
        now[0] += 1.0  # every look at the clock: one more second went by (queued)
        return now[0]

    async with make_client(m, max_retry_wait_s=2.5) as c:
        c.retry_policy = dataclasses.replace(c.retry_policy, base_s=0.001, cap_s=0.001, clock=clock)
        with pytest.raises(SlackRetryExhaustedError) as info:
            await c.call("team.info")
    # first failure at t=1; t=2: 1.0 s spent, go on; t=3: 2.0 s, go on; t=4: 3.0 s > 2.5: stop
    assert len(sent(m, "team.info")) == 3
    assert info.value.waited_s > 2.5


async def test_the_wait_budget_not_the_attempt_count_binds_by_default(m: FakeSlack) -> None:
    """An outage of many failures is ridden out: by default the attempt count is no limit
    that a wait budget of minutes would reach (the old policy gave up after 6)."""
    for _ in range(30):
        m.post(url("team.info"), status=503, body=HTML_503)
    m.post(url("team.info"), payload={"ok": True, "team": {}})
    async with make_client(m, max_retry_wait_s=60.0) as c:
        c.retry_policy = dataclasses.replace(c.retry_policy, base_s=0.0001, cap_s=0.001)
        await c.call("team.info")
    assert len(sent(m, "team.info")) == 31
    assert AsyncSlackClient(TOKEN).retry_policy.max_attempts >= 100
    assert AsyncSlackClient(TOKEN).retry_policy.max_total_wait_s == 600.0


async def test_lost_connection_to_a_server_that_answered_is_retried_as_an_outage() -> None:
    """A base URL that answered before and now refuses connections (Slack down, network
    lost mid-run) is retried for the wait budget, and ends as a runtime failure
    (SlackRetryExhaustedError), not as "cannot reach" (a user mistake)."""
    from ingest.slack import client as client_module

    port = _closed_port()
    base_url = f"http://127.0.0.1:{port}/api/"
    client_module._ANSWERED.add(base_url)
    try:
        client = make_client(base_url=base_url, max_retry_wait_s=0.3)
        client.retry_policy = dataclasses.replace(client.retry_policy, base_s=0.01, cap_s=0.02)
        with pytest.raises(SlackRetryExhaustedError) as info:
            async with client:
                pass
    finally:
        client_module._ANSWERED.discard(base_url)
    assert info.value.code == "connection_error"
    assert info.value.attempts > 6  # past the few attempts an unknown URL gets
    # retried for about the whole budget (it is real time since the first failure; the
    # sleeps sum to a little less: each attempt takes time too)
    assert 0.2 <= info.value.waited_s < 1.0
    assert_clean(info.value)


async def test_backoff_is_exponential_with_full_jitter() -> None:
    policy = AsyncSlackClient(TOKEN).retry_policy
    policy = dataclasses.replace(policy, rng=_MaxRandom())
    assert [policy.backoff(n) for n in range(1, 10)] == [
        0.25, 0.5, 1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0
    ]  # fmt: skip
    jittered = dataclasses.replace(policy, rng=random.Random(3))
    samples = [jittered.backoff(4) for _ in range(200)]
    assert all(0 <= s <= 2.0 for s in samples) and min(samples) < 0.5 < 1.5 < max(samples)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


async def test_unreachable_server_is_a_connection_error() -> None:
    port = _closed_port()
    base_url = f"http://127.0.0.1:{port}/api/"
    client = make_client(base_url=base_url, max_attempts=3)
    with pytest.raises(SlackConnectionError) as info:
        async with client:
            pass
    error = info.value
    assert error.base_url == base_url and error.attempts == 3
    assert f"cannot reach {base_url}" in str(error)
    assert client.closed
    assert_clean(error)


# -- stats and redaction -----------------------------------------------------------------------


async def test_stats_as_dict(m: FakeSlack, client: AsyncSlackClient) -> None:
    m.post(url("conversations.list"), payload={"ok": True, "channels": [{}, {}], **_meta("c2")})
    m.post(url("conversations.list"), payload={"ok": True, "channels": [{}], **_meta("")})
    m.post(url("users.list"), status=502, body="")
    m.post(url("users.list"), payload={"ok": True, "members": [{}, {}, {}]})
    [p async for p in client.paginate("conversations.list")]
    await client.call("users.list")
    stats = client.stats.as_dict()
    assert set(stats) == {"auth.test", "conversations.list", "users.list"}
    assert stats["conversations.list"]["pages"] == 2
    assert stats["conversations.list"]["items"] == 3
    assert stats["conversations.list"]["current_rate_per_min"] == 20.0
    assert stats["conversations.list"]["current_rate"] == 20.0
    assert stats["users.list"] == stats["users.list"] | {
        "requests": 2,
        "pages": 0,
        "items": 3,
        "n_429": 0,
        "retries": 1,
        "errors": 1,
    }
    for row in stats.values():
        assert row["wait_budget_s"] >= 0 and row["wait_network_s"] >= 0
    assert client.stats.totals()["requests"] == 5


async def test_token_never_in_repr_logs_or_exceptions(
    m: FakeSlack, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="ingest.slack")
    m.post(url("team.info"), exception=aiohttp.ServerDisconnectedError())
    m.post(url("team.info"), status=429, headers={"Retry-After": "0.01"})
    m.post(url("team.info"), payload={"ok": True, "team": {}})
    m.post(url("users.info"), payload={"ok": False, "error": "invalid_auth"})
    client = make_client(m)
    async with client:
        assert TOKEN not in repr(client) and TOKEN not in str(client)
        assert "xoxb-***" in repr(client)
        assert TOKEN not in repr(vars(client))
        await client.call("team.info")
        with pytest.raises(SlackAuthError) as info:
            await client.call("users.info", user="U1")
        assert_clean(info.value)
        with pytest.raises(TypeError):
            import pickle

            pickle.dumps(client)
    assert caplog.records, "expected retry/429 log lines"
    for record in caplog.records:
        assert TOKEN not in record.getMessage()
    for call in sent(m, "team.info") + sent(m, "users.info"):
        assert call.headers["Authorization"] == f"Bearer {TOKEN}"
    for request in m.requests:
        assert TOKEN not in request.url


def test_redact_helper_and_log_filter(caplog: pytest.LogCaptureFixture) -> None:
    assert TOKEN not in redact(f"boom {TOKEN} boom")
    assert redact("xoxp-1-2-3 and xapp-1-A-2-abc and xoxe.xoxp-1-zz") == (
        "xox?-*** and xox?-*** and xox?-***"
    )
    assert redact("plain secret123 text", ["secret123"]) == "plain xox?-*** text"
    assert redact("nothing here") == "nothing here"
    caplog.set_level(logging.INFO, logger="ingest.slack")
    logging.getLogger("ingest.slack").info("leaked %s", TOKEN)
    assert caplog.records and TOKEN not in caplog.records[-1].getMessage()


def test_non_token_shaped_token_is_still_kept_out_of_reprs() -> None:
    client = AsyncSlackClient("plain-secret-value")
    assert "plain-secret-value" not in repr(client)
    assert "token-***" in repr(client)


def test_errors_pickle_round_trip() -> None:
    import pickle

    error = SlackMissingScopeError("users.list", needed="users:read", provided="a,b")
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is SlackMissingScopeError
    assert (again.needed, again.provided, str(again)) == ("users:read", "a,b", str(error))
    thread = ThreadNotFoundError("conversations.replies", channel="C1", ts="1.2")
    again_thread = pickle.loads(pickle.dumps(thread))
    assert (again_thread.channel, again_thread.ts) == ("C1", "1.2")


async def test_concurrent_calls_respect_max_in_flight(m: FakeSlack) -> None:
    in_flight = 0
    peak = 0

    async def slow(request: TransportRequest) -> TransportResponse:
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        return reply(payload={"ok": True, "user": {}})

    m.post(url("users.info"), callback=slow, repeat=True)
    async with make_client(m, max_in_flight=3, profile="unlimited") as c:
        await asyncio.gather(*(c.call("users.info", user=f"U{i}") for i in range(12)))
    assert peak == 3


async def test_requests_late_from_the_in_flight_cap_take_a_fresh_slot(m: FakeSlack) -> None:
    async def slow(request: TransportRequest) -> TransportResponse:
        await asyncio.sleep(0.05)  # much longer than the 1/60 s interval below
        return reply(payload={"ok": True, "user": {}})

    m.post(url("users.info"), callback=slow, repeat=True)
    overrides = {"users.info": {"rate_per_min": 60, "burst": 5}}
    async with make_client(m, max_in_flight=1, time_scale=60.0, overrides=overrides) as c:
        await asyncio.gather(*(c.call("users.info", user=f"U{i}") for i in range(5)))
        bucket = c.bucket("users.info")
    # 5 burst slots taken at once; the 4 that then queued on the semaphore re-reserved
    assert bucket.n_reservations == 9


async def test_429s_that_keep_coming_lower_the_rate_in_stats(m: FakeSlack) -> None:
    for _ in range(2):
        m.post(url("conversations.history"), status=429, headers={"Retry-After": "0.01"})
    m.post(url("conversations.history"), payload=page(1, ""))
    async with make_client(m) as c:
        await c.call("conversations.history", channel="C1")
        row = c.stats.as_dict()["conversations.history"]
        # first 429: block only; second, after obeying it: 50/min * 0.8
        assert row["n_429"] == 2 and row["retries"] == 2
        assert row["current_rate_per_min"] == pytest.approx(40.0)
        assert c.bucket("conversations.history").n_rate_decreases == 1
