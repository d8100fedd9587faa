"""Typed Slack errors and the mapping from Slack's ``error`` codes to them.

Hierarchy::

    SlackError(method, code, message)
    ├── SlackFatalError                 stop the run (no point in going on with this token)
    │   ├── SlackAuthError              invalid_auth, not_authed, token_revoked, token_expired, account_inactive
    │   └── SlackMissingScopeError      missing_scope (.needed, .provided)
    ├── SlackResourceError (.channel)   skip this channel/thread and record why
    │   ├── ChannelNotFoundError        channel_not_found
    │   ├── NotInChannelError           not_in_channel
    │   ├── ThreadNotFoundError         thread_not_found (.ts)
    │   └── IsArchivedError             is_archived
    ├── SlackRequestError               our own bug (invalid_cursor, invalid_arguments, ...): never retried
    ├── SlackRetryExhaustedError        transient failures (5xx, resets, bad JSON, internal_error,
    │                                   429s) went on past max_attempts / max_retry_wait_s
    └── SlackConnectionError            never reached the server at all (cannot reach base_url)

No message ever holds the token: messages are built from method names, codes and server
texts only, and run through ``redact``. The client never chains aiohttp exceptions (they
carry the request headers, i.e. the token).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ingest.slack.redact import redact

__all__ = [
    "AUTH_CODES",
    "FATAL_CODES",
    "REQUEST_BUG_CODES",
    "RESOURCE_CODES",
    "TRANSIENT_CODES",
    "ChannelNotFoundError",
    "IsArchivedError",
    "NotInChannelError",
    "SlackAuthError",
    "SlackConnectionError",
    "SlackError",
    "SlackFatalError",
    "SlackMissingScopeError",
    "SlackRequestError",
    "SlackResourceError",
    "SlackRetryExhaustedError",
    "ThreadNotFoundError",
    "error_from_response",
]


class SlackError(Exception):
    """Base: a Slack call failed. ``str(e)`` names the method and the code."""

    def __init__(self, method: str, code: str, message: str | None = None) -> None:
        self.method = method
        self.code = code
        self.message = redact(message if message is not None else f"{method}: {code}")
        super().__init__(self.message)

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(method={self.method!r}, code={self.code!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Pickle by attributes (Prefect may ship exceptions between processes).
        return (_rebuild, (type(self), self.__dict__.copy()))


def _rebuild(cls: type[SlackError], state: dict[str, Any]) -> SlackError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, state.get("message", ""))
    return error


class SlackFatalError(SlackError):
    """The run cannot go on with this token/app (auth, scopes, permissions)."""


class SlackAuthError(SlackFatalError):
    """The token is missing, wrong, revoked or expired, or its account is inactive."""


class SlackMissingScopeError(SlackFatalError):
    """The token lacks a scope the method needs; ``.needed`` and ``.provided`` as Slack says."""

    def __init__(
        self,
        method: str,
        code: str = "missing_scope",
        message: str | None = None,
        *,
        needed: str | None = None,
        provided: str | None = None,
    ) -> None:
        self.needed = needed
        self.provided = provided
        if message is None:
            message = (
                f"{method}: missing_scope: the token lacks the scope "
                f"'{needed or '?'}' (token scopes: {provided or 'unknown'})"
            )
        super().__init__(method, code, message)


class SlackResourceError(SlackError):
    """One channel/thread cannot be read; skip it and record why. ``.channel`` names it."""

    def __init__(
        self, method: str, code: str, message: str | None = None, *, channel: str | None = None
    ) -> None:
        self.channel = channel
        if message is None:
            message = f"{method}: {code} (channel {channel or '?'})"
        super().__init__(method, code, message)


class ChannelNotFoundError(SlackResourceError):
    """``channel_not_found``: the channel does not exist or the token cannot see it."""


class NotInChannelError(SlackResourceError):
    """``not_in_channel``: the bot is not a member (join it, or skip it)."""


class IsArchivedError(SlackResourceError):
    """``is_archived``: the channel is archived (e.g. on conversations.join)."""


class ThreadNotFoundError(SlackResourceError):
    """``thread_not_found``: the thread parent ``.ts`` is gone (or is a join message)."""

    def __init__(
        self,
        method: str,
        code: str = "thread_not_found",
        message: str | None = None,
        *,
        channel: str | None = None,
        ts: str | None = None,
    ) -> None:
        self.ts = ts
        if message is None:
            message = f"{method}: {code} (channel {channel or '?'}, thread {ts or '?'})"
        super().__init__(method, code, message, channel=channel)


class SlackRequestError(SlackError):
    """Slack rejected our request as malformed: a bug on our side, never retried."""


class SlackRetryExhaustedError(SlackError):
    """Transient failures went on too long. ``.code`` is the last failure's code
    (``http_503``, ``connection_error``, ``invalid_json``, ``internal_error``, ``ratelimited``...),
    ``.last_error`` its text, ``.attempts`` the requests made, ``.waited_s`` the retry waits."""

    def __init__(
        self,
        method: str,
        code: str,
        message: str | None = None,
        *,
        attempts: int = 0,
        waited_s: float = 0.0,
        last_error: str = "",
    ) -> None:
        self.attempts = attempts
        self.waited_s = waited_s
        self.last_error = redact(last_error)
        if message is None:
            message = (
                f"{method}: giving up after {attempts} attempt(s) and {waited_s:.1f}s of retry "
                f"waits; last error: {last_error or code}"
            )
        super().__init__(method, code, message)


class SlackConnectionError(SlackError):
    """No attempt ever got an answer from ``.base_url`` (refused, DNS, unreachable...)."""

    def __init__(
        self,
        method: str,
        code: str = "connection_error",
        message: str | None = None,
        *,
        base_url: str = "",
        attempts: int = 0,
        last_error: str = "",
    ) -> None:
        self.base_url = base_url
        self.attempts = attempts
        self.last_error = redact(last_error)
        if message is None:
            message = f"cannot reach {base_url} ({method}, {attempts} attempt(s)): {last_error}"
        super().__init__(method, code, message)


AUTH_CODES = frozenset(
    {"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"}
)
#: Other codes that make going on with this token pointless.
FATAL_CODES = frozenset(
    {
        "no_permission",
        "not_allowed_token_type",
        "ekm_access_denied",
        "two_factor_setup_required",
        "team_access_not_granted",
        "org_login_required",
        "access_denied",
        "enterprise_is_restricted",
        "invalid_token",
        "no_such_token",
    }
)
RESOURCE_CODES: dict[str, type[SlackResourceError]] = {
    "channel_not_found": ChannelNotFoundError,
    "not_in_channel": NotInChannelError,
    "thread_not_found": ThreadNotFoundError,
    "is_archived": IsArchivedError,
}
REQUEST_BUG_CODES = frozenset(
    {
        "invalid_cursor",
        "invalid_arguments",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "limit_required",
        "invalid_limit",
        "unknown_method",
        "method_deprecated",
        "deprecated_endpoint",
        "invalid_arg_name",
        "invalid_array_arg",
        "invalid_charset",
        "invalid_form_data",
        "invalid_post_type",
        "missing_post_type",
        "invalid_json",
        "json_not_object",
    }
)
#: ``ok:false`` codes retried with backoff. ("ratelimited" is handled like an HTTP 429.)
TRANSIENT_CODES = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)


def error_from_response(
    method: str, body: Mapping[str, Any], params: Mapping[str, Any] | None = None
) -> SlackError:
    """The typed exception for a non-transient ``ok:false`` body."""
    params = params or {}
    code = str(body.get("error") or "unknown_error")
    channel = params.get("channel")
    channel = str(channel) if channel is not None else None
    if code in AUTH_CODES:
        return SlackAuthError(method, code, f"{method}: {code}: the Slack token was rejected")
    if code == "missing_scope":
        needed = body.get("needed")
        provided = body.get("provided")
        return SlackMissingScopeError(
            method,
            code,
            needed=str(needed) if needed is not None else None,
            provided=str(provided) if provided is not None else None,
        )
    if code in FATAL_CODES:
        return SlackFatalError(method, code)
    if code == "thread_not_found":
        ts = params.get("ts")
        return ThreadNotFoundError(
            method, code, channel=channel, ts=str(ts) if ts is not None else None
        )
    if code in RESOURCE_CODES:
        return RESOURCE_CODES[code](method, code, channel=channel)
    if code in REQUEST_BUG_CODES:
        metadata = body.get("response_metadata")
        detail = body.get("detail") or (
            metadata.get("messages") if isinstance(metadata, Mapping) else None
        )
        suffix = f" ({detail})" if detail else ""
        return SlackRequestError(method, code, f"{method}: {code}{suffix}")
    return SlackError(method, code)
