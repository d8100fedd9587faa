"""The seam between the client and HTTP: one request in, status + headers + body out.

``Transport`` is a protocol with ``send`` and ``aclose``. ``AiohttpTransport`` is the real
one; ``MockTransport(handler)`` (after httpx's) answers from a function, for tests and for
running the client without a network. A transport raises ``TransportError`` (never an aiohttp
exception: those carry the request headers, i.e. the token) when no answer came.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

import aiohttp

__all__ = [
    "AiohttpTransport",
    "MockTransport",
    "Transport",
    "TransportError",
    "TransportRequest",
    "TransportResponse",
    "failure_from",
]

_USER_AGENT = "slack-ingest/0.1 (+aiohttp)"


@dataclass(frozen=True)
class TransportRequest:
    """A form-encoded POST. ``headers`` hold the token: never log or repr them."""

    url: str
    form: Mapping[str, str]
    headers: Mapping[str, str] = field(repr=False)

    @property
    def method(self) -> str:
        """The Slack method: the last part of the URL path."""
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class TransportResponse:
    status: int
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""

    def header(self, name: str) -> str | None:
        """A header by case-insensitive name."""
        wanted = name.lower()
        for key, value in self.headers.items():
            if key.lower() == wanted:
                return value
        return None


class TransportError(Exception):
    """No answer came. ``reached``: the failure shows the server was reached (a reset or a
    timeout after connecting) rather than never contacted (refused, bad URL, DNS)."""

    def __init__(self, code: str, text: str, *, reached: bool) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
        self.reached = reached


class Transport(Protocol):
    async def send(self, request: TransportRequest) -> TransportResponse: ...

    async def aclose(self) -> None: ...


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def failure_from(exc: BaseException) -> TransportError | None:
    """The ``TransportError`` for an aiohttp/timeout exception (None: not a transport failure)."""
    if isinstance(exc, aiohttp.InvalidURL):
        return TransportError("invalid_url", _describe(exc), reached=False)
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return TransportError("connect_timeout", _describe(exc), reached=False)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return TransportError("connection_error", _describe(exc), reached=False)
    if isinstance(
        exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | aiohttp.ClientPayloadError
    ):
        return TransportError("connection_reset", _describe(exc), reached=True)
    if isinstance(exc, TimeoutError):  # asyncio.TimeoutError and aiohttp's read timeouts
        return TransportError("timeout", _describe(exc) or "timeout", reached=True)
    if isinstance(exc, aiohttp.ClientError):
        return TransportError("connection_error", _describe(exc), reached=True)
    return None


class AiohttpTransport:
    """The real transport: one ``aiohttp.ClientSession``, created on first use in the
    running loop (a transport belongs to the loop that first sent through it)."""

    def __init__(self, *, max_connections: int = 32, timeout_s: float = 30.0) -> None:
        self.max_connections = max_connections
        self.timeout_s = timeout_s
        self._session: aiohttp.ClientSession | None = None

    def _require_session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.max_connections, limit_per_host=self.max_connections, ttl_dns_cache=300
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=aiohttp.ClientTimeout(total=self.timeout_s),
                headers={"User-Agent": _USER_AGENT},
            )
        return self._session

    async def send(self, request: TransportRequest) -> TransportResponse:
        session = self._require_session()
        failure: TransportError | None = None
        try:
            async with session.post(
                request.url, data=dict(request.form), headers=dict(request.headers)
            ) as response:
                return TransportResponse(
                    response.status, dict(response.headers), await response.read()
                )
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = failure_from(exc)
        # Raised outside the except block so no aiohttp exception is even __context__.
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and not session.closed:
            await session.close()


Handler = Callable[[TransportRequest], TransportResponse | Awaitable[TransportResponse]]


class MockTransport:
    """Answers every request with ``handler(request)`` (sync or async), like httpx's
    ``MockTransport``. A handler may raise ``TransportError``, or an aiohttp/timeout
    exception, which is turned into one as ``AiohttpTransport`` would."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler

    async def send(self, request: TransportRequest) -> TransportResponse:
        failure: TransportError | None = None
        try:
            result = self.handler(request)
            if inspect.isawaitable(result):
                result = await result
            assert isinstance(result, TransportResponse)
            return result
        except (aiohttp.ClientError, TimeoutError) as exc:
            failure = failure_from(exc)
        assert failure is not None
        raise failure

    async def aclose(self) -> None:
        return None
