"""Receiving Slack's events over Socket Mode: slack_sdk's aiohttp client, wrapped.

Why slack_sdk's client and not our own protocol code: it already does what Socket Mode
needs and is kept up with Slack (a fresh `apps.connections.open` URL at every
(re)connection, ping/pong staleness checks, reconnecting on `disconnect` frames, on
closed or failed sockets). Three things are added here:

- **record, then acknowledge**: each `events_api` envelope is handed to `record`
  (synchronous; the listener's durable journal append, milliseconds) and acknowledged
  only when it returned, well inside Slack's 3 s. If `record` fails the envelope is not
  acknowledged, and Slack redelivers it. Processing (the warehouse work) happens later,
  in a run. So an acknowledged event is never lost, even to SIGKILL.
- **a clear start**: slack_sdk retries a failing `apps.connections.open` for ever; we ask
  for the first URL ourselves, so a wrong or revoked app token is one clear error.
- **`link_disabled` stops**: slack_sdk reconnects on every `disconnect` frame; Socket
  Mode turned off for the app is not worth reconnecting for.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMessage, WSMsgType
from slack_sdk.errors import SlackApiError
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from ingest.slack.errors import SlackAuthError, SlackError

logger = logging.getLogger("ingest.slack.socket_mode")

#: Slack's errors that mean the app-level token cannot open a connection.
FATAL_OPEN_ERRORS = frozenset(
    {
        "not_authed",
        "invalid_auth",
        "token_revoked",
        "token_expired",
        "account_inactive",
        "not_allowed_token_type",
        "missing_scope",
    }
)

#: record(event_callback payload, retry_attempt) -> True if new, False if a redelivery
Record = Callable[[dict[str, Any], int], bool]


@dataclass
class ListenerStats:
    """What the listener has seen since it started (thread-safe enough: one loop writes)."""

    started_at: float = field(default_factory=time.time)
    connections: int = 0
    envelopes: int = 0
    recorded: int = 0
    redelivered: int = 0
    duplicates: int = 0
    record_failures: int = 0
    disconnects: dict[str, int] = field(default_factory=dict)
    last_event_at: float | None = None
    stopped: str | None = None


class SocketModeListener:
    """Connects with an app-level token and records every Events API envelope."""

    def __init__(
        self,
        app_token: str,
        record: Record | None = None,
        *,
        base_url: str = "https://slack.com/api/",
        ping_interval: float = 5.0,
    ) -> None:
        self._app_token = app_token
        self._record = record
        self._base_url = base_url
        self._ping_interval = ping_interval
        self.stats = ListenerStats()
        self._stop = asyncio.Event()
        self._client: SocketModeClient | None = None

    async def open(self) -> str:
        """Ask Slack for the first connection URL: raises SlackAuthError / SlackError
        when the app-level token cannot open one (nothing else has happened yet)."""
        return await self._first_url(AsyncWebClient(base_url=self._base_url, logger=logger))

    async def run(self, stop: asyncio.Event | None = None, url: str | None = None) -> str:
        """Listen until `stop` is set or Slack disables the link; returns why it stopped.
        `url`: from `open()` (else asked for here)."""
        web = AsyncWebClient(base_url=self._base_url, logger=logger)
        if url is None:
            url = await self._first_url(web)
        client = SocketModeClient(
            app_token=self._app_token,
            web_client=web,
            logger=logger,
            ping_interval=self._ping_interval,
            on_message_listeners=[self._on_frame],
        )
        client.socket_mode_request_listeners.append(self._on_request)
        client.wss_uri = url
        self._client = client
        waiters = [asyncio.ensure_future(self._stop.wait())]
        if stop is not None:
            waiters.append(asyncio.ensure_future(stop.wait()))
        try:
            await client.connect()  # type: ignore[no-untyped-call]
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            await client.close()  # type: ignore[no-untyped-call]
        if self.stats.stopped is None:
            self.stats.stopped = "stopped"
        return self.stats.stopped

    async def _first_url(self, web: AsyncWebClient) -> str:
        try:
            response = await web.apps_connections_open(app_token=self._app_token)
        except SlackApiError as exc:
            data = getattr(exc.response, "data", None)
            if not isinstance(data, dict):  # an HTML page, say: not Slack's Web API
                raise SlackError(
                    "apps.connections.open",
                    "not_the_slack_api",
                    "apps.connections.open: the answer is not Slack's JSON",
                ) from None
            code = str(data.get("error") or "unknown_error")
            if code in FATAL_OPEN_ERRORS:
                raise SlackAuthError(
                    "apps.connections.open", code, f"apps.connections.open: {code}"
                ) from None
            raise SlackError(
                "apps.connections.open", code, f"apps.connections.open: {code}"
            ) from None
        return str(response["url"])

    async def _on_frame(self, message: WSMessage) -> None:
        """Every text frame, before slack_sdk dispatches it: hello and disconnect frames."""
        if message.type != WSMsgType.TEXT:
            return
        try:
            frame = json.loads(message.data)
        except (TypeError, ValueError):
            return
        kind = frame.get("type")
        if kind == "hello":
            self.stats.connections += 1
        elif kind == "disconnect":
            reason = str(frame.get("reason") or "unknown")
            self.stats.disconnects[reason] = self.stats.disconnects.get(reason, 0) + 1
            logger.info("Slack asked to disconnect: %s", reason)
            if reason == "link_disabled":
                self.stats.stopped = "link_disabled"
                self._stop.set()

    async def _on_request(self, client: AsyncBaseSocketModeClient, req: SocketModeRequest) -> None:
        self.stats.envelopes += 1
        if req.type != "events_api":  # interactivity, slash commands: not ours, but acked
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        attempt = int(req.retry_attempt or 0)
        if attempt:
            self.stats.redelivered += 1
        try:
            if self._record is None:
                raise RuntimeError("no journal to record into")
            fresh = self._record(req.payload, attempt)
        except Exception as exc:  # noqa: BLE001 - not acknowledged: Slack redelivers it
            self.stats.record_failures += 1
            logger.error("could not record an event (%s); Slack will redeliver it", exc)
            return
        if fresh:
            self.stats.recorded += 1
            self.stats.last_event_at = time.time()
        else:
            self.stats.duplicates += 1
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))

    def record_with(self, record: Record) -> None:
        self._record = record

    def stop(self) -> None:
        self._stop.set()
