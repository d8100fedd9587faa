"""The transport seam: aiohttp failures as ``TransportError``, ``MockTransport``, and the
client sending through an injected transport with ``limits=``."""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import orjson
import pytest

from ingest.slack import (
    AsyncSlackClient,
    Limits,
    MockTransport,
    TransportError,
    TransportRequest,
    TransportResponse,
)
from ingest.slack.transport import failure_from
from tests.slack.conftest import BASE, TOKEN


@pytest.mark.parametrize(
    ("exc", "code", "reached"),
    [
        (aiohttp.InvalidURL("nope"), "invalid_url", False),
        (aiohttp.ConnectionTimeoutError(), "connect_timeout", False),
        (aiohttp.ServerDisconnectedError(), "connection_reset", True),
        (aiohttp.ClientOSError(104, "Connection reset by peer"), "connection_reset", True),
        (aiohttp.ClientPayloadError("Response payload is not completed"), "connection_reset", True),
        (TimeoutError(), "timeout", True),
        (aiohttp.ClientError("other"), "connection_error", True),
    ],
)
def test_aiohttp_failures_become_transport_errors(
    exc: BaseException, code: str, reached: bool
) -> None:
    failure = failure_from(exc)
    assert failure is not None
    assert (failure.code, failure.reached) == (code, reached)
    assert failure_from(ValueError("not a transport failure")) is None


async def test_mock_transport_takes_sync_and_async_handlers_and_maps_failures() -> None:
    request = TransportRequest(BASE + "team.info", {}, {"Authorization": "Bearer x"})
    assert request.method == "team.info" and "Bearer" not in repr(request)

    async def async_handler(req: TransportRequest) -> TransportResponse:
        return TransportResponse(201, {"retry-after": "2"}, b"{}")

    sync = MockTransport(lambda req: TransportResponse(200, {}, req.method.encode()))
    assert (await sync.send(request)).body == b"team.info"
    answered = await MockTransport(async_handler).send(request)
    assert answered.status == 201 and answered.header("Retry-After") == "2"

    def broken(req: TransportRequest) -> TransportResponse:
        raise aiohttp.ServerDisconnectedError()

    with pytest.raises(TransportError) as info:
        await MockTransport(broken).send(request)
    assert info.value.code == "connection_reset"
    assert info.value.__context__ is None  # the aiohttp exception is not even context


async def test_client_sends_through_the_injected_transport_at_its_limits() -> None:
    sent: list[TransportRequest] = []

    def handler(request: TransportRequest) -> TransportResponse:
        sent.append(request)
        body: dict[str, Any] = {"ok": True, "team_id": "T1"}
        if request.method == "conversations.history":
            body = {"ok": True, "messages": [{"ts": "1.0"}]}
        return TransportResponse(200, {}, orjson.dumps(body))

    limits = Limits("internal", {"tier3": {"burst": 8}}, time_scale=600.0).scaled(0.25)
    async with AsyncSlackClient(TOKEN, limits=limits, transport=MockTransport(handler)) as c:
        data = await c.call("conversations.history", channel="C1")
        assert data["messages"] == [{"ts": "1.0"}]
        bucket = c.bucket("conversations.history")
        # the share scales the bucket's rate and burst; time_scale is the real one
        assert bucket.budget.rate_per_min == pytest.approx(50.0 * 0.25)
        assert bucket.budget.burst == 2 and bucket.time_scale == 600.0
        assert c.page_size("conversations.history") == 200
        assert c.limits is limits and c.time_scale == 600.0
    assert [r.method for r in sent] == ["auth.test", "conversations.history"]
    assert sent[1].form == {"channel": "C1"}
    assert sent[1].headers["Authorization"] == f"Bearer {TOKEN}"
    assert c.closed


async def test_client_missing_retry_after_uses_the_limits_share() -> None:
    """share 0.25 at time_scale 100: one Slack second / (100 * 0.25) = 0.04 s, as when the
    share stretched time_scale."""
    answers = iter([
        TransportResponse(200, {}, orjson.dumps({"ok": True})),
        TransportResponse(429, {}, b""),
        TransportResponse(200, {}, orjson.dumps({"ok": True})),
    ])  # fmt: skip
    times: list[float] = []

    def handler(request: TransportRequest) -> TransportResponse:
        times.append(time.monotonic())
        return next(answers)

    limits = Limits(time_scale=100.0).scaled(0.25)
    async with AsyncSlackClient(TOKEN, limits=limits, transport=MockTransport(handler)) as c:
        await c.call("team.info")
        assert c.bucket("team.info").n_429 == 1
    assert times[2] - times[1] >= 0.04 - 0.005


def test_limits_and_its_shorthands_are_exclusive() -> None:
    with pytest.raises(ValueError, match="not both"):
        AsyncSlackClient(TOKEN, limits=Limits(), time_scale=2.0)
    with pytest.raises(ValueError, match="not both"):
        AsyncSlackClient(TOKEN, limits=Limits(), profile="internal")
    client = AsyncSlackClient(TOKEN, profile="unlisted", time_scale=5.0, overrides=None)
    assert client.limits == Limits("unlisted", time_scale=5.0)
    assert AsyncSlackClient(TOKEN).limits == Limits()
