"""``FakeSlack``: scripted Slack answers served through ``MockTransport`` (no sockets, no
patching of aiohttp or aioresponses internals). The API follows aioresponses' ``post``."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from ingest.slack import MockTransport, TransportRequest, TransportResponse

Callback = Callable[
    [TransportRequest], "TransportResponse | None | Awaitable[TransportResponse | None]"
]


@dataclass
class _Route:
    status: int
    headers: dict[str, str]
    body: bytes
    exception: BaseException | None
    callback: Callback | None
    repeat: bool = field(default=False)


class FakeSlack:
    """Answers per URL in the order registered; a ``repeat`` answer is never used up.

    ``requests`` records every request sent (``.url``, ``.form``, ``.headers``).
    """

    def __init__(self) -> None:
        self._routes: dict[str, list[_Route]] = {}
        self.requests: list[TransportRequest] = []
        self.transport = MockTransport(self._handle)

    def post(
        self,
        url: str,
        *,
        status: int = 200,
        payload: Any = None,
        body: str | bytes = b"",
        headers: dict[str, str] | None = None,
        exception: BaseException | None = None,
        callback: Callback | None = None,
        repeat: bool = False,
        content_type: str | None = None,
    ) -> None:
        raw = orjson.dumps(payload) if payload is not None else body
        raw = raw.encode() if isinstance(raw, str) else raw
        route = _Route(status, dict(headers or {}), raw, exception, callback, repeat)
        self._routes.setdefault(url, []).append(route)

    def sent(self, method: str) -> list[TransportRequest]:
        """The requests sent to ``method``, in order."""
        return [r for r in self.requests if r.method == method]

    async def _handle(self, request: TransportRequest) -> TransportResponse:
        self.requests.append(request)
        routes = self._routes.get(request.url)
        if not routes:
            raise AssertionError(f"FakeSlack: no answer left for {request.url}")
        route = routes[0] if routes[0].repeat else routes.pop(0)
        if route.callback is not None:
            result = route.callback(request)
            if inspect.isawaitable(result):
                result = await result
            if result is not None:
                return result
        if route.exception is not None:
            raise route.exception
        return TransportResponse(route.status, route.headers, route.body)


def reply(
    status: int = 200, payload: Any = None, headers: dict[str, str] | None = None
) -> TransportResponse:
    """A response for a callback to return."""
    return TransportResponse(status, headers or {}, orjson.dumps(payload))
