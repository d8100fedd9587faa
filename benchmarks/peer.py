"""slack-sdk's `AsyncWebClient` as the peer: no proactive pacing, an opt-in 429 handler.

Stock `AsyncRateLimitErrorRetryHandler` sleeps `int(Retry-After) + random.random()` seconds.
Against real Slack that is sound: Slack sends whole seconds. Against the time-scaled
simulator it is not: the simulator sends `Retry-After` in scaled, fractional seconds
(e.g. `0.02` at 60x), `int("0.02")` raises `ValueError` inside slack-sdk's retry loop and the
call fails. And its up-to-one-second jitter is real time: at 60x that is up to a Slack
minute per retry. `ScaledRateLimitRetryHandler` is the same handler evaluated in Slack
time (see its docstring), i.e. slack-sdk's behaviour against real Slack, time-compressed;
the stock handler is also run and what happens to it is reported.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from slack_sdk.http_retry.async_handler import AsyncRetryHandler
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncRateLimitErrorRetryHandler,
    async_default_handlers,
)
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web.async_client import AsyncWebClient

from benchmarks.fetch import Pager


class ScaledRateLimitRetryHandler(AsyncRateLimitErrorRetryHandler):
    """slack-sdk's 429 handler run at Slack time.

    `whole_seconds=True` (the default, what slack-sdk meets against real Slack): the scaled
    `Retry-After` is turned back into Slack seconds and rounded up to a whole second, as
    Slack (and the simulator at time scale 1) sends it; then slack-sdk's own
    `int(Retry-After) + random.random()` is slept, divided by the time scale.
    `whole_seconds=False`: the fractional value as sent, plus the scaled jitter (kinder to
    the peer than real Slack would be).
    """

    def __init__(self, max_retry_count: int, time_scale: float, whole_seconds: bool = True) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.time_scale = time_scale
        self.whole_seconds = whole_seconds

    def slack_seconds(self, header: str | None) -> float:
        """What slack-sdk sleeps, in Slack seconds, for this (scaled) header."""
        jitter = random.random()
        if header is None:
            return 1 + jitter
        slack_s = float(header) * self.time_scale
        if self.whole_seconds:
            return max(1, math.ceil(slack_s - 1e-9)) + jitter
        return slack_s + jitter

    async def prepare_for_next_attempt_async(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        if response is None:
            assert error is not None
            raise error
        state.next_attempt_requested = True
        header = next(
            (v[0] for k, v in response.headers.items() if k.lower() == "retry-after"), None
        )
        await asyncio.sleep(self.slack_seconds(header) / self.time_scale)
        state.increment_current_attempt()


def rate_limit_handler(*, mode: str, max_retry_count: int, time_scale: float) -> AsyncRetryHandler:
    """mode: "stock" (slack-sdk as is), "whole" (Slack-time, whole-second Retry-After),
    "fractional" (Slack-time, fractional Retry-After)."""
    if mode == "stock":
        return AsyncRateLimitErrorRetryHandler(max_retry_count=max_retry_count)
    return ScaledRateLimitRetryHandler(max_retry_count, time_scale, whole_seconds=mode == "whole")


class SdkPeer:
    """`async with SdkPeer(...) as pager:` -> a `Pager` over slack-sdk's typed methods."""

    def __init__(
        self,
        token: str,
        base_url: str,
        *,
        max_in_flight: int = 32,
        max_retry_count: int = 50,
        time_scale: float = 1.0,
        mode: str = "whole",
    ) -> None:
        self.token = token
        self.base_url = base_url
        self.max_in_flight = max_in_flight
        self.handler = rate_limit_handler(
            mode=mode, max_retry_count=max_retry_count, time_scale=time_scale
        )
        self.session: aiohttp.ClientSession | None = None
        self.client: AsyncWebClient | None = None

    async def __aenter__(self) -> Pager:
        connector = aiohttp.TCPConnector(
            limit=self.max_in_flight, limit_per_host=self.max_in_flight
        )
        self.session = aiohttp.ClientSession(connector=connector)
        self.client = AsyncWebClient(
            token=self.token,
            base_url=self.base_url,
            session=self.session,
            timeout=30,
            retry_handlers=[*async_default_handlers(), self.handler],
        )
        return self.paginate

    async def __aexit__(self, *exc: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def paginate(self, method: str, **params: Any) -> AsyncIterator[dict[str, Any]]:
        assert self.client is not None
        call = getattr(self.client, method.replace(".", "_"))
        cursor: str | None = None
        while True:
            if cursor:
                params["cursor"] = cursor
            response = await call(**params)
            page: dict[str, Any] = dict(response.data)  # type: ignore[arg-type]
            yield page
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                return
