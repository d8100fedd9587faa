"""``classify``: one attempt's outcome -> the decision the client acts on."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ingest.slack.errors import (
    ChannelNotFoundError,
    SlackAuthError,
    SlackError,
    SlackRequestError,
)
from ingest.slack.retry import (
    Fail,
    RateLimited,
    Retry,
    Success,
    classify,
    parse_retry_after,
)
from ingest.slack.transport import TransportError, TransportResponse


def decide(
    status: int = 200,
    body: Any = None,
    headers: dict[str, str] | None = None,
    params: dict[str, Any] | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else orjson.dumps(body)
    return classify(
        "conversations.history",
        params or {"channel": "C9"},
        TransportResponse(status, headers or {}, raw),
        missing_retry_after_s=0.5,
    )


def test_ok_true_is_success_with_the_dict() -> None:
    assert decide(body={"ok": True, "messages": []}) == Success({"ok": True, "messages": []})


@pytest.mark.parametrize(
    ("status", "body", "headers", "wait"),
    [
        (429, b"", {"Retry-After": "0.15"}, 0.15),
        (429, b"", {"retry-after": "3"}, 3.0),  # any case
        (429, b"", {}, 0.5),  # missing: the default
        (429, b"", {"Retry-After": "soon"}, 0.5),  # unusable: the default
        (429, b"", {"Retry-After": "-1"}, 0.5),
        (200, {"ok": False, "error": "ratelimited"}, {"Retry-After": "2"}, 2.0),
    ],
)
def test_rate_limited_carries_the_wait(
    status: int, body: Any, headers: dict[str, str], wait: float
) -> None:
    decision = decide(status, body, headers)
    assert isinstance(decision, RateLimited)
    assert decision.retry_after_s == pytest.approx(wait)


@pytest.mark.parametrize(
    ("status", "body", "code"),
    [
        (503, b"<html>503</html>", "http_503"),
        (500, b"", "http_500"),
        (200, b'{"ok": true, "messages": [', "invalid_json"),
        (200, b"<html>oops</html>", "invalid_json"),
        (200, {"ok": False, "error": "internal_error"}, "internal_error"),
        (200, {"ok": False, "error": "service_unavailable"}, "service_unavailable"),
    ],
)
def test_transient_failures_are_retried(status: int, body: Any, code: str) -> None:
    decision = decide(status, body)
    assert isinstance(decision, Retry)
    assert decision.code == code and decision.reached is True


def test_transport_failures_are_retried_with_their_reach() -> None:
    for reached in (True, False):
        failure = TransportError("connection_reset", "reset", reached=reached)
        decision = classify("team.info", {}, failure, missing_retry_after_s=1.0)
        assert decision == Retry("connection_reset", "reset", reached)


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (200, {"ok": False, "error": "invalid_auth"}, SlackAuthError, "invalid_auth"),
        (200, {"ok": False, "error": "channel_not_found"}, ChannelNotFoundError, None),
        (200, {"ok": False, "error": "invalid_cursor"}, SlackRequestError, None),
        (400, {"ok": False, "error": "invalid_arguments"}, SlackRequestError, None),
        (200, {"ok": False}, SlackError, "unknown_error"),
        (404, b"<html>not found</html>", SlackError, "http_404"),
    ],
)
def test_everything_else_fails_at_once_with_a_typed_error(
    status: int, body: Any, cls: type[SlackError], code: str | None
) -> None:
    decision = decide(status, body)
    assert isinstance(decision, Fail)
    assert type(decision.error) is cls
    assert decision.error.method == "conversations.history"
    if code is not None:
        assert decision.error.code == code
    if isinstance(decision.error, ChannelNotFoundError):
        assert decision.error.channel == "C9"


def test_parse_retry_after() -> None:
    assert parse_retry_after(" 1.5 ") == 1.5
    assert parse_retry_after(None) is None
    assert parse_retry_after("inf") is None
    assert parse_retry_after("abc") is None
