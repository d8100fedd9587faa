"""``AsyncSlackClient``: an asyncio Slack Web API client that paces itself.

One request, end to end (``_request``):

1. **Budget.** Take a place among the method's requests scheduled or unanswered (at most
   ``burst`` per bucket, shared by every client of it), reserve a slot in the process-wide
   bucket of (workspace, method) and sleep until it. If a 429 blocked the method meanwhile,
   reserve again. (See ``budget.py`` for why each of these is needed.)
2. **In-flight cap.** Take the client's semaphore (``max_in_flight``). If that made us wait and
   our slot is now stale, reserve a fresh one (so queued requests never go out bunched).
   Steps 1-2 are ``wait_budget_s``.
3. **Send** ``POST base_url + method``, form-encoded, ``Authorization: Bearer <token>``; read the
   whole body (``wait_network_s``); parse with orjson. Tell the bucket when the answer came
   (``on_answer``: the server may have counted the request that late).
4. **Classify.** ``ok:true`` -> return the dict. HTTP 429 / ``ratelimited`` -> block the method for
   everyone for ``Retry-After`` and retry. 5xx, resets, timeouts, bad JSON, ``internal_error`` &
   co. -> back off (full jitter) and retry, bounded by ``max_retry_wait_s`` (see ``retry.py``).
   Anything else -> a typed ``SlackError`` at once.

Units: rates are per Slack minute and scaled by ``time_scale``; ``Retry-After`` comes already
scaled from the server (fractional seconds accepted); backoff, timeouts,
``max_retry_wait_s`` and ``backoff_cap_s`` are real seconds (the loader divides its Slack-time
settings by ``time_scale``).

A client belongs to the event loop that opened it (its aiohttp session does). Several clients in
several threads/loops share budgets through the bucket registry: same ``workspace_key`` (by
default ``f"{base_url}|{team_id}"``) => same buckets.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any

import aiohttp
import orjson

from ingest.slack.budget import Bucket, get_bucket
from ingest.slack.errors import (
    TRANSIENT_CODES,
    SlackConnectionError,
    SlackError,
    SlackRetryExhaustedError,
    error_from_response,
)
from ingest.slack.limits import (
    PROFILES,
    Budget,
    resolve_budget,
    resolve_page_size,
    validate_overrides,
)
from ingest.slack.redact import RedactingFilter, SecretToken, mask_token, redact
from ingest.slack.retry import RetryPolicy
from ingest.slack.stats import ClientStats

__all__ = ["DEFAULT_RETRY_AFTER_SLACK_S", "AsyncSlackClient", "COLLECTION_KEYS"]

logger = logging.getLogger("ingest.slack")
if not any(isinstance(f, RedactingFilter) for f in logger.filters):
    logger.addFilter(RedactingFilter())

#: Wait after a 429 that carries no usable ``Retry-After``, in Slack seconds (so 1/time_scale
#: real seconds). Slack always sends the header; this only guards against proxies dropping it.
DEFAULT_RETRY_AFTER_SLACK_S = 1.0

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

_METHOD_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z][A-Za-z0-9_]*)+$")
_USER_AGENT = "slack-ingest/0.1 (+aiohttp)"


class _Transient(Exception):
    """Internal: one attempt failed in a way worth retrying."""

    def __init__(self, code: str, text: str, *, reached: bool) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.reached = reached


class _RateLimited(Exception):
    """Internal: one attempt got a 429 / ratelimited."""

    def __init__(self, retry_after_s: float, header: str | None, sent_at: float) -> None:
        super().__init__(f"ratelimited (Retry-After {header!r})")
        self.retry_after_s = retry_after_s
        self.header = header
        self.sent_at = sent_at


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


def _parse_retry_after(header: str | None) -> float | None:
    if header is None:
        return None
    try:
        value = float(header.strip())
    except ValueError:
        return None
    if not math.isfinite(value) or value < 0:
        return None
    return value


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


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


class AsyncSlackClient:
    """Slack Web API client for one token. Use as ``async with AsyncSlackClient(token) as c:``.

    See docs/DESIGN.md "Client" for the contract and the module docstring for the mechanics.
    """

    def __init__(
        self,
        token: str,
        *,
        base_url: str = "https://slack.com/api/",
        profile: str = "internal",
        time_scale: float = 1.0,
        overrides: Mapping[str, Any] | None = None,
        max_in_flight: int = 32,
        timeout_s: float = 30.0,
        max_attempts: int = 100,
        max_retry_wait_s: float = 600.0,
        backoff_cap_s: float = 30.0,
        workspace_key: str | None = None,
    ) -> None:
        if not isinstance(token, str) or not token.strip():
            raise ValueError("a Slack token is required")
        if profile not in PROFILES:
            raise ValueError(
                f"unknown Slack rate-limit profile {profile!r}; expected one of {', '.join(PROFILES)}"
            )
        if not (
            isinstance(time_scale, int | float) and time_scale > 0 and math.isfinite(time_scale)
        ):
            raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
        if max_in_flight < 1:
            raise ValueError(f"max_in_flight must be >= 1, got {max_in_flight!r}")
        if not timeout_s > 0:
            raise ValueError(f"timeout_s must be > 0, got {timeout_s!r}")
        self._token = SecretToken(token)
        self.base_url = base_url if base_url.endswith("/") else base_url + "/"
        self.profile = profile
        self.time_scale = float(time_scale)
        self.overrides = validate_overrides(overrides)
        self.max_in_flight = max_in_flight
        self.timeout_s = float(timeout_s)
        self.retry_policy = RetryPolicy(
            max_attempts=max_attempts,
            max_total_wait_s=float(max_retry_wait_s),
            cap_s=float(backoff_cap_s),
        )
        self._workspace_key_arg = workspace_key
        self.stats = ClientStats()
        self.auth: dict[str, Any] | None = None
        self.team_id: str | None = None
        self.user_id: str | None = None
        self.bot_id: str | None = None
        self.team: str | None = None
        self._session: aiohttp.ClientSession | None = None
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
        """Open the HTTP session and call ``auth.test`` once (fatal auth errors surface here)."""
        if self._session is not None and not self._session.closed:
            return
        connector = aiohttp.TCPConnector(
            limit=self.max_in_flight, limit_per_host=self.max_in_flight, ttl_dns_cache=300
        )
        self._session = aiohttp.ClientSession(
            connector=connector,
            timeout=aiohttp.ClientTimeout(total=self.timeout_s),
            headers={"User-Agent": _USER_AGENT},
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
            "slack client ready: %s team=%s user=%s bot=%s profile=%s time_scale=%s",
            self.base_url,
            self.team_id,
            self.user_id,
            self.bot_id,
            self.profile,
            self.time_scale,
        )

    async def close(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()

    @property
    def closed(self) -> bool:
        return self._session is None or self._session.closed

    # -- budgets -------------------------------------------------------------------------------

    @property
    def workspace_key(self) -> str:
        """Key of the shared buckets: ``workspace_key`` if given, else ``base_url|team_id``
        (before ``auth.test`` answered: ``base_url`` alone, used by ``auth.test`` itself)."""
        if self._workspace_key_arg:
            return self._workspace_key_arg
        if self.team_id:
            return f"{self.base_url}|{self.team_id}"
        return self.base_url

    def budget(self, method: str) -> Budget:
        """The configured budget for ``method`` (profile + overrides)."""
        budget = self._budgets.get(method)
        if budget is None:
            budget = self._budgets[method] = resolve_budget(self.profile, method, self.overrides)
        return budget

    def bucket(self, method: str) -> Bucket:
        """The process-wide bucket this client paces ``method`` with."""
        return get_bucket(self.workspace_key, method, self.budget(method), self.time_scale)

    def page_size(self, method: str) -> int:
        """The ``limit`` ``paginate`` sends for ``method`` (profile + overrides)."""
        return resolve_page_size(self.profile, method, self.overrides)

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

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            raise RuntimeError("AsyncSlackClient is not open: use `async with client:`")
        return self._session

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

    async def _send(self, method: str, form: dict[str, str]) -> tuple[int, str | None, bytes]:
        """One HTTP attempt. Returns (status, Retry-After header, body) or raises _Transient.

        aiohttp exceptions are turned into text here and never escape or get chained: they
        carry the request (headers included).
        """
        session = self._require_session()
        url = self.base_url + method
        headers = {"Authorization": f"Bearer {self._token.reveal()}"}
        failure: _Transient | None = None
        try:
            async with session.post(url, data=form, headers=headers) as response:
                status = response.status
                retry_after = response.headers.get("Retry-After")
                body = await response.read()
                return status, retry_after, body
        except aiohttp.InvalidURL as exc:
            text = _describe(exc)
            failure = _Transient("invalid_url", text, reached=False)
        except aiohttp.ConnectionTimeoutError as exc:
            failure = _Transient("connect_timeout", _describe(exc), reached=False)
        except aiohttp.ClientConnectorError as exc:
            failure = _Transient("connection_error", _describe(exc), reached=False)
        except aiohttp.ServerDisconnectedError as exc:
            failure = _Transient("connection_reset", _describe(exc), reached=True)
        except (aiohttp.ClientOSError, aiohttp.ClientPayloadError) as exc:
            failure = _Transient("connection_reset", _describe(exc), reached=True)
        except TimeoutError as exc:  # asyncio.TimeoutError and aiohttp's read timeouts
            failure = _Transient("timeout", _describe(exc) or "timeout", reached=True)
        except aiohttp.ClientError as exc:
            failure = _Transient("connection_error", _describe(exc), reached=True)
        # Raised outside the except blocks so no aiohttp exception is even __context__.
        assert failure is not None
        raise failure

    async def _attempt(
        self, method: str, form: dict[str, str], params: Mapping[str, Any], bucket: Bucket
    ) -> dict[str, Any]:
        """Budget wait + one HTTP attempt + classification."""
        t0 = time.perf_counter()
        ticket = await self._acquire(bucket)
        t1 = time.perf_counter()
        sent_at = bucket.clock()
        try:
            self.stats.add(method, requests=1, wait_budget_s=t1 - t0)
            status, retry_after_header, body = await self._send(method, form)
            _ANSWERED.add(self.base_url)
        finally:
            self._semaphore.release()
            bucket.on_answer(ticket)
            bucket.finish()
            self.stats.add(method, wait_network_s=time.perf_counter() - t1)

        if status == 429:
            raise _RateLimited(self._retry_after(retry_after_header), retry_after_header, sent_at)
        if status >= 500:
            raise _Transient(f"http_{status}", f"HTTP {status}", reached=True)
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            data = None
        if not isinstance(data, dict):
            if status == 200:
                raise _Transient(
                    "invalid_json",
                    f"HTTP 200 with an invalid JSON body ({len(body)} bytes)",
                    reached=True,
                )
            raise SlackError(method, f"http_{status}", f"{method}: HTTP {status}") from None
        if data.get("ok") is True:
            return data
        code = str(data.get("error") or ("unknown_error" if status == 200 else f"http_{status}"))
        if code == "ratelimited":
            raise _RateLimited(self._retry_after(retry_after_header), retry_after_header, sent_at)
        if code in TRANSIENT_CODES:
            raise _Transient(code, f"ok:false {code}", reached=True)
        raise error_from_response(method, data, params)

    def _retry_after(self, header: str | None) -> float:
        value = _parse_retry_after(header)
        if value is None:
            value = DEFAULT_RETRY_AFTER_SLACK_S / self.time_scale
        return value

    async def _request(self, method: str, params: Mapping[str, Any]) -> dict[str, Any]:
        if not isinstance(method, str) or not _METHOD_RE.match(method):
            raise ValueError(f"not a Slack method name: {method!r}")
        if "token" in params:
            raise ValueError("pass the token to AsyncSlackClient(), never as a call parameter")
        self._require_session()
        form = _encode_params(params)
        state = self.retry_policy.start()
        reached = False
        attempt = 0
        while True:
            attempt += 1
            if attempt > 1:
                self.stats.add(method, retries=1)
            bucket = self.bucket(method)
            try:
                data = await self._attempt(method, form, params, bucket)
            except _RateLimited as limited:
                reached = True
                self.stats.add(method, n_429=1)
                bucket.on_429(limited.retry_after_s, sent_at=limited.sent_at)
                self.stats.set_rate(method, bucket.current_rate_per_min)
                wait = state.next_rate_limited_wait(limited.retry_after_s)
                if wait is None:
                    raise _gave_up(
                        method, "ratelimited",
                        f"HTTP 429 ratelimited (Retry-After {limited.header})", attempt,
                        state.waited_s,
                    ) from None
                logger.info(
                    "%s: 429 ratelimited, Retry-After %s -> method blocked %.3fs for every user",
                    method,
                    limited.header,
                    limited.retry_after_s,
                )
                continue
            except _Transient as failure:
                reached = reached or failure.reached
                self.stats.add(method, errors=1)
                answered = reached or self.base_url in _ANSWERED
                wait = (None if failure.code == "invalid_url"
                        else state.next_transient_wait(reached=answered))
                if wait is None:
                    if not answered:
                        raise SlackConnectionError(
                            method,
                            base_url=self.base_url,
                            attempts=attempt,
                            last_error=redact(failure.text, (self._token.reveal(),)),
                        ) from None
                    raise _gave_up(
                        method, failure.code, redact(failure.text, (self._token.reveal(),)),
                        attempt, max(state.waited_s, state.retrying_s),
                    ) from None
                logger.info(
                    "%s: %s (attempt %d), retrying in %.2fs",
                    method,
                    redact(failure.text, (self._token.reveal(),)),
                    attempt,
                    wait,
                )
                await asyncio.sleep(wait)
                self.stats.add(method, wait_retry_s=wait)
                continue
            except SlackError:
                self.stats.add(method, errors=1)
                raise
            bucket.on_success()
            self.stats.add(method, items=_count_items(method, data))
            self.stats.set_rate(method, bucket.current_rate_per_min)
            warning = data.get("warning")
            if warning:
                logger.debug("%s: Slack warning %s", method, warning)
            return data

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
