"""``AsyncSlackClient``: an asyncio Slack Web API client that paces itself.

One request, end to end (``_request``):

1. **Budget.** Take a place among the method's requests scheduled or unanswered (at most
   ``burst`` per bucket, shared by every client of it), reserve a slot in the process-wide
   bucket of (workspace, method) and sleep until it. If a 429 blocked the method meanwhile,
   reserve again. (See ``pacing/bucket.py`` for why each of these is needed.)
2. **In-flight cap.** Take the client's semaphore (``max_in_flight``). If that made us wait and
   our slot is now stale, reserve a fresh one (so queued requests never go out bunched).
   Steps 1-2 are ``wait_budget_s``.
3. **Send** ``POST base_url + method`` through the transport (``transport.py``), form-encoded,
   ``Authorization: Bearer <token>``; the whole body is read (``wait_network_s``). Tell the
   bucket when the answer came (``on_answer``: the server may have counted it that late).
4. **Classify** (``retry.classify``). ``Success`` -> return the dict. ``RateLimited`` -> block
   the method for everyone for ``Retry-After`` and retry. ``Retry`` (5xx, resets, timeouts,
   bad JSON, ``internal_error`` & co.) -> back off (full jitter) and retry, bounded by
   ``max_retry_wait_s`` (see ``retry.py``). ``Fail`` -> raise its typed ``SlackError``.

Units: rates are per Slack minute, scaled by the ``Limits``' ``time_scale`` and ``share``;
``Retry-After`` comes already scaled from the server (fractional seconds accepted); backoff,
timeouts, ``max_retry_wait_s`` and ``backoff_cap_s`` are real seconds (the loader divides its
Slack-time settings by ``time_scale``).

A client belongs to the event loop that opened it (its transport does). Several clients in
several threads/loops share budgets through the bucket registry: same ``workspace_key`` (by
default ``f"{base_url}|{team_id}"``) => same buckets.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import orjson

from ingest.slack.errors import SlackConnectionError, SlackError, SlackRetryExhaustedError
from ingest.slack.limits import DEFAULT_RETRY_AFTER_SLACK_S, Budget, Limits
from ingest.slack.pacing import Bucket, get_bucket
from ingest.slack.redact import RedactingFilter, SecretToken, mask_token, redact
from ingest.slack.retry import (
    Fail,
    RateLimited,
    Retry,
    RetryPolicy,
    RetryState,
    Success,
    classify,
)
from ingest.slack.stats import ClientStats
from ingest.slack.transport import (
    AiohttpTransport,
    Transport,
    TransportError,
    TransportRequest,
    TransportResponse,
)

__all__ = ["DEFAULT_RETRY_AFTER_SLACK_S", "AsyncSlackClient", "COLLECTION_KEYS"]

logger = logging.getLogger("ingest.slack")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())

#: The list counted as ``items`` in stats for each method.
COLLECTION_KEYS: dict[str, str] = {
    "conversations.history": "messages",
    "conversations.replies": "messages",
    "conversations.list": "channels",
    "conversations.members": "members",
    "users.list": "members",
    "team.accessLogs": "logins",
    "files.list": "files",
    "usergroups.list": "usergroups",
}
_FALLBACK_COLLECTIONS = ("messages", "channels", "members", "users", "files", "logins", "items")

#: Base URLs that answered this process at least once (any HTTP status). A call to one of
#: them that cannot connect is an outage, retried for the whole wait budget; a base URL
#: that never answered is given up on after a few attempts (a wrong or unreachable URL).
_ANSWERED: set[str] = set()

#: Enterprise Grid: methods an org-wide token calls for the org itself (no ``team_id``).
ORG_LEVEL_METHODS = frozenset({"auth.test", "auth.teams.list"})
_METHOD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")


def _form_value(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list | tuple | set | frozenset):
        return ",".join(str(v) for v in value)
    if isinstance(value, Mapping):
        return orjson.dumps(value).decode()
    return str(value)


def _encode_params(params: Mapping[str, Any]) -> dict[str, str]:
    form: dict[str, str] = {}
    for key, value in params.items():
        encoded = _form_value(value)
        if encoded is not None:
            form[key] = encoded
    return form


def _count_items(method: str, data: Mapping[str, Any]) -> int:
    key = COLLECTION_KEYS.get(method)
    if key is not None:
        value = data.get(key)
        return len(value) if isinstance(value, list) else 0
    for key in _FALLBACK_COLLECTIONS:
        value = data.get(key)
        if isinstance(value, list):
            return len(value)
    return 0


def _next_cursor(page: Mapping[str, Any]) -> str | None:
    metadata = page.get("response_metadata")
    if not isinstance(metadata, Mapping):
        return None
    cursor = metadata.get("next_cursor")
    return cursor if isinstance(cursor, str) and cursor else None


def _gave_up(
    method: str, code: str, last_error: str, attempts: int, waited_s: float
) -> SlackRetryExhaustedError:
    """The error of a call whose retries ran out, saying what failed first, then how long
    it was retried (real seconds: the line must be true at any time scale)."""
    return SlackRetryExhaustedError(
        method,
        code,
        f"{method}: {last_error or code} (gave up after {attempts} attempt(s) over "
        f"{_duration(waited_s)} of retries)",
        attempts=attempts,
        waited_s=waited_s,
        last_error=last_error,
    )


def _duration(seconds: float) -> str:
    if seconds >= 120:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f}s"


class AsyncSlackClient:
    """Slack Web API client for one token. Use as ``async with AsyncSlackClient(token) as c:``.

    See docs/DESIGN.md "Client" for the contract and the module docstring for the mechanics.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://slack.com/api/",
        profile: str | None = None,
        time_scale: float | None = None,
        overrides: Mapping[str, Any] | None = None,
        limits: Limits | None = None,
        transport: Transport | None = None,
        max_in_flight: int = 32,
        timeout_s: float = 30.0,
        max_attempts: int = 100,
        max_retry_wait_s: float = 600.0,
        backoff_cap_s: float = 30.0,
        workspace_key: str | None = None,
        team: str | None = None,
    ) -> None:
        """Pass ``limits`` or its shorthands ``profile`` (default ``"internal"``),
        ``time_scale`` (default 1.0) and ``overrides``, not both. ``transport``: by default
        an ``AiohttpTransport``, made at ``open``. ``team``: Enterprise Grid, the workspace an
        org-wide token calls (sent as ``team_id`` with every workspace-level method; its
        buckets are that workspace's: Slack's budgets are per workspace)."""
        if not isinstance(token, str) or not token.strip():
            raise ValueError("a Slack token is required")
        self.limits = _limits(limits, profile, time_scale, overrides)
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._token = SecretToken(token)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.profile = self.limits.profile
        self.time_scale = self.limits.time_scale
        self.overrides = self.limits.as_overrides()
        self.max_in_flight = max_in_flight
        self.timeout_s = float(timeout_s)
        self.retry_policy = RetryPolicy(
            max_attempts=max_attempts,
            max_total_wait_s=float(max_retry_wait_s),
            cap_s=float(backoff_cap_s),
        )
        self._workspace_key_arg = workspace_key
        self.team_arg = team
        self.stats = ClientStats()
        self.auth: dict[str, Any] | None = None
        self.team_id: str | None = None
        self.user_id: str | None = None
        self.bot_id: str | None = None
        self.team: str | None = None
        self._transport_arg = transport
        self._transport: Transport | None = None
        self._semaphore = asyncio.Semaphore(max_in_flight)
        self._budgets: dict[str, Budget] = {}

    # -- lifecycle -----------------------------------------------------------------------------

    async def __aenter__(self) -> AsyncSlackClient:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def open(self) -> None:
        """Open the transport and call ``auth.test`` once (fatal auth errors surface here)."""
        if self._transport is not None:
            return
        self._transport = self._transport_arg or AiohttpTransport(
            max_connections=self.max_in_flight, timeout_s=self.timeout_s
        )
        try:
            auth = await self.call("auth.test")
        except BaseException:
            await self.close()
            raise
        self.auth = auth
        self.team_id = auth.get("team_id")
        self.user_id = auth.get("user_id")
        self.bot_id = auth.get("bot_id")
        self.team = auth.get("team")
        logger.debug(
            "slack client ready: %s team=%s user=%s bot=%s limits=%s",
            self.base_url,
            self.team_id,
            self.user_id,
            self.bot_id,
            self.limits,
        )

    async def close(self) -> None:
        transport, self._transport = self._transport, None
        if transport is not None:
            await transport.aclose()

    @property
    def closed(self) -> bool:
        return self._transport is None

    # -- budgets -------------------------------------------------------------------------------

    @property
    def workspace_key(self) -> str:
        """Key of the shared buckets: ``workspace_key`` if given, else ``base_url|team_id``
        (before ``auth.test`` answered: ``base_url`` alone, used by ``auth.test`` itself)."""
        if self._workspace_key_arg:
            return self._workspace_key_arg
        if self.team_arg:
            return f"{self.base_url}|{self.team_arg}"
        if self.team_id:
            return f"{self.base_url}|{self.team_id}"
        return self.base_url

    def budget(self, method: str) -> Budget:
        """This client's budget for ``method`` (profile + overrides, scaled by the share)."""
        budget = self._budgets.get(method)
        if budget is None:
            budget = self._budgets[method] = self.limits.budget(method)
        return budget

    def bucket(self, method: str) -> Bucket:
        """The process-wide bucket this client paces ``method`` with (an org-wide token's
        org-level methods share one bucket across its workspaces: Slack counts them once)."""
        key = self.workspace_key
        if self.team_arg and method in ORG_LEVEL_METHODS and not self._workspace_key_arg:
            key = self.base_url
        return get_bucket(key, method, self.budget(method), self.limits.time_scale)

    def page_size(self, method: str) -> int:
        """The ``limit`` ``paginate`` sends for ``method`` (profile + overrides)."""
        return self.limits.page_size(method)

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Call ``method`` once (with retries); return the response dict (``ok`` is true)."""
        return await self._request(method, params)

    async def paginate(self, method: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        """Yield one response dict per page, following ``response_metadata.next_cursor`` until
        it is empty, null or missing. ``limit`` defaults to the profile's page size. A short or
        empty page never ends the iteration; only the cursor does."""
        if params.get("limit") is None:
            params["limit"] = self.page_size(method)
        cursor = params.pop("cursor", None) or None
        while True:
            page_params = dict(params)
            if cursor:
                page_params["cursor"] = cursor
            page = await self._request(method, page_params)
            self.stats.add(method, pages=1)
            yield page
            next_cursor = _next_cursor(page)
            if next_cursor is None:
                return
            if next_cursor == cursor:
                # No progress: following it would loop forever.
                raise SlackError(
                    method,
                    "repeated_cursor",
                    f"{method}: the server returned the same cursor again",
                )
            cursor = next_cursor

    def _require_transport(self) -> Transport:
        if self._transport is None:
            raise RuntimeError("AsyncSlackClient is not open: use `async with client:`")
        return self._transport

    async def _acquire(self, bucket: Bucket) -> int:
        """Wait for a place among the method's requests in flight, then for a budget slot,
        then for the client's in-flight semaphore; return the reservation ticket.

        On return the bucket place and the semaphore are held; the caller gives both back.
        The bucket place comes first so that at most ``burst`` requests of a method are
        scheduled or unanswered at once (the slots handed out are then never more than
        ``burst`` intervals ahead). The semaphore comes last so that requests of a method
        whose budget is exhausted do not sit on places other methods could use. If it made
        us wait past our slot (or a 429 blocked the slot meanwhile), we take a fresh slot
        while holding it: late requests must not go out bunched with later slots.
        """
        await bucket.start()
        try:
            slot, ticket = await self._reserve_and_sleep(bucket)
            contended = self._semaphore.locked()
            await self._semaphore.acquire()
        except BaseException:
            bucket.finish()
            raise
        try:
            if not bucket.is_clear(slot) or (contended and bucket.is_stale(slot)):
                slot, ticket = await self._reserve_and_sleep(bucket)
        except BaseException:
            self._semaphore.release()
            bucket.finish()
            raise
        return ticket

    @staticmethod
    async def _reserve_and_sleep(bucket: Bucket) -> tuple[float, int]:
        while True:
            slot, ticket = bucket.reserve_ticket()
            delay = slot - bucket.clock()
            if delay > 0:
                await asyncio.sleep(delay)
            if bucket.is_clear(slot):
                return slot, ticket
            # A 429 arrived while we slept and blocks our slot: take a new one.

    async def _attempt(
        self, method: str, form: dict[str, str], bucket: Bucket
    ) -> tuple[TransportResponse | TransportError, float]:
        """Budget wait + one HTTP attempt; return its outcome and when it was sent."""
        t0 = time.perf_counter()
        ticket = await self._acquire(bucket)
        t1 = time.perf_counter()
        sent_at = bucket.clock()
        request = TransportRequest(
            self.base_url + method, form, {"Authorization": f"Bearer {self._token.reveal()}"}
        )
        outcome: TransportResponse | TransportError
        try:
            self.stats.add(method, requests=1, wait_budget_s=t1 - t0)
            outcome = await self._require_transport().send(request)
            _ANSWERED.add(self.base_url)
        except TransportError as failure:
            outcome = failure
        finally:
            self._semaphore.release()
            bucket.on_answer(ticket)
            bucket.finish()
            self.stats.add(method, wait_network_s=time.perf_counter() - t1)
        return outcome, sent_at

    async def _request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(method, str) or not _METHOD_RE.match(method):
            raise ValueError(f"not a Slack method name: {method!r}")
        if "token" in params:
            raise ValueError("pass the token to AsyncSlackClient(), never as a call parameter")
        self._require_transport()
        if self.team_arg and method not in ORG_LEVEL_METHODS and "team_id" not in params:
            params = {**params, "team_id": self.team_arg}
        form = _encode_params(params)
        state = self.retry_policy.start()
        reached = False
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self.stats.add(method, retries=1)
            bucket = self.bucket(method)
            outcome, sent_at = await self._attempt(method, form, bucket)
            decision = classify(
                method, params, outcome, missing_retry_after_s=self.limits.missing_retry_after_s
            )
            if isinstance(decision, Success):
                return self._succeeded(method, bucket, decision.data)
            if isinstance(decision, Fail):
                self.stats.add(method, errors=1)
                raise decision.error
            if isinstance(decision, RateLimited):
                reached = True
                self._rate_limited(method, bucket, decision, sent_at, state, attempt)
            else:
                reached = reached or decision.reached
                await self._back_off(method, decision, state, attempt, reached)
                smaller = step_down(params, decision.code)
                if smaller is not None:  # a big page timed out: ask for a smaller one
                    logger.info(
                        "%s: %s with limit %s; retrying with limit %s",
                        method,
                        decision.code,
                        params["limit"],
                        smaller["limit"],
                    )
                    params = smaller
                    form = _encode_params(params)

    def _succeeded(self, method: str, bucket: Bucket, data: dict[str, Any]) -> dict[str, Any]:
        bucket.on_success()
        self.stats.add(method, items=_count_items(method, data))
        self.stats.set_rate(method, bucket.current_rate_per_min)
        warning = data.get("warning")
        if warning:
            logger.debug("%s: Slack warning %s", method, warning)
        return data

    def _rate_limited(
        self,
        method: str,
        bucket: Bucket,
        limited: RateLimited,
        sent_at: float,
        state: RetryState,
        attempt: int,
    ) -> None:
        """Block the method for everyone; raise if this call should not wait for it."""
        self.stats.add(method, n_429=1)
        bucket.on_429(limited.retry_after_s, sent_at=sent_at)
        self.stats.set_rate(method, bucket.current_rate_per_min)
        if state.next_rate_limited_wait(limited.retry_after_s) is None:
            text = f"HTTP 429 ratelimited (Retry-After {limited.header})"
            raise _gave_up(method, "ratelimited", text, attempt, state.waited_s)
        logger.info(
            "%s: 429 ratelimited, Retry-After %s -> method blocked %.3fs for every user",
            method,
            limited.header,
            limited.retry_after_s,
        )

    async def _back_off(
        self, method: str, failure: Retry, state: RetryState, attempt: int, reached: bool
    ) -> None:
        """Sleep before the next attempt; raise if the retries ran out."""
        self.stats.add(method, errors=1)
        answered = reached or self.base_url in _ANSWERED
        wait = (
            None if failure.code == "invalid_url" else state.next_transient_wait(reached=answered)
        )
        text = redact(failure.text, (self._token.reveal(),))
        if wait is None:
            if not answered:
                raise SlackConnectionError(
                    method, base_url=self.base_url, attempts=attempt, last_error=text
                )
            waited = max(state.waited_s, state.retrying_s)
            raise _gave_up(method, failure.code, text, attempt, waited)
        logger.info("%s: %s (attempt %d), retrying in %.2fs", method, text, attempt, wait)
        await asyncio.sleep(wait)
        self.stats.add(method, wait_retry_s=wait)

    # -- display -------------------------------------------------------------------------------

    def __repr__(self) -> str:
        return (
            f"AsyncSlackClient(base_url={self.base_url!r}, profile={self.profile!r}, "
            f"time_scale={self.time_scale}, team_id={self.team_id!r}, "
            f"token={mask_token(self._token.reveal())})"
        )

    __str__ = __repr__

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("AsyncSlackClient cannot be pickled (it holds a session and a token)")


def _limits(
    limits: Limits | None,
    profile: str | None,
    time_scale: float | None,
    overrides: Mapping[str, Any] | None,
) -> Limits:
    if limits is None:
        return Limits(
            "internal" if profile is None else profile,
            overrides or {},
            1.0 if time_scale is None else time_scale,
        )
    if not isinstance(limits, Limits):
        raise TypeError(f"limits must be a Limits, got {type(limits).__name__}")
    if profile is not None or time_scale is not None or overrides is not None:
        raise ValueError("pass either limits= or profile=/time_scale=/overrides=, not both")
    return limits


#: Failures that a smaller page may avoid: the request timed out (ours, Slack's, a gateway's).
STEP_DOWN_CODES = frozenset({"timeout", "request_timeout", "http_504"})
#: A page never steps down below this `limit` (Slack's recommended size).
STEP_DOWN_FLOOR = 200


def step_down(params: Mapping[str, Any], code: str) -> dict[str, Any] | None:
    """`params` with half the page `limit` (not below STEP_DOWN_FLOOR) after a timeout of a
    page bigger than the floor; None when there is nothing to step down."""
    if code not in STEP_DOWN_CODES:
        return None
    try:
        limit = int(params.get("limit") or 0)
    except (TypeError, ValueError):
        return None
    if limit <= STEP_DOWN_FLOOR:
        return None
    return {**params, "limit": str(max(STEP_DOWN_FLOOR, limit // 2))}
