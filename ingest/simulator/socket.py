"""Socket Mode: app-level token tickets, the /_sim/socket WebSocket, envelopes and acks.

Events come from `Workspace.subscribe` (any thread) and are handed to the server loop
with `loop.call_soon_threadsafe`; everything else runs in the loop. Counters are guarded
by a threading lock so `stats()` can be read from any thread.

Delivery: each event goes to ONE open connection (round robin, connections that were
asked to refresh or were disabled are used only when nothing else is open). An envelope
not acked within `ack_timeout_s` is sent again (same event_id, new envelope_id,
retry_attempt 1..max_retries, retry_reason "timeout") to an open connection, or to the
next connection that opens if none is; after max_retries it is dropped. Events
published while no connection is open are lost (Slack does not replay them).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import WSMsgType, web

from .errors import SimulatorConfigError
from .workspace import Workspace

DEFAULT_APP_TOKEN = "xapp-sim-0-local-simulator-app-token"
WARNING_BEFORE_S = 1.0  # "warning" disconnect this long before "refresh_requested"
CLOSE_GRACE_S = 1.0  # after refresh_requested / link_disabled the server closes the socket
DISABLED_ERROR = "socket_mode_disabled"
COUNTERS = (
    "connections_opened",
    "envelopes_sent",
    "acked",
    "redelivered",
    "dropped_after_retries",
    "lost_no_connection",
    "events_published",
)
_DEBUG_HOST = "applink-sim"


class SocketModeDisabled(Exception):
    """apps.connections.open while Socket Mode is disabled."""


@dataclass(eq=False)
class _Conn:
    n: int
    ws: web.WebSocketResponse
    transport: asyncio.BaseTransport | None
    queue: asyncio.Queue[bytes | None] = field(default_factory=asyncio.Queue)
    draining: bool = False  # refresh requested / link disabled: used only as a last resort
    closed: bool = False
    timers: list[asyncio.TimerHandle] = field(default_factory=list)
    sender: asyncio.Task[None] | None = None


@dataclass(eq=False)
class _Pending:
    event_id: str
    payload: dict[str, Any]
    attempt: int = 0
    timer: asyncio.TimerHandle | None = None


class SocketMode:
    """The Socket Mode side of a Simulator (one per Simulator)."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        app_token: str = DEFAULT_APP_TOKEN,
        ack_timeout_s: float = 3.0,
        max_retries: int = 3,
        refresh_s: float | None = None,
    ) -> None:
        if not app_token:
            raise SimulatorConfigError("app_token must not be empty")
        if app_token == workspace.token:
            raise SimulatorConfigError("app_token must differ from the bot token")
        if not ack_timeout_s > 0:
            raise SimulatorConfigError(f"ack_timeout_s must be > 0, got {ack_timeout_s!r}")
        if max_retries < 0:
            raise SimulatorConfigError(f"max_retries must be >= 0, got {max_retries!r}")
        if refresh_s is not None and not refresh_s > 0:
            raise SimulatorConfigError(f"socket_refresh_s must be > 0, got {refresh_s!r}")
        self.workspace = workspace
        self.app_token = app_token
        self.ack_timeout_s = float(ack_timeout_s)
        self.max_retries = int(max_retries)
        self.refresh_s = refresh_s
        self.app_id = workspace.app_user.app_id
        self._lock = threading.Lock()
        self._counters = dict.fromkeys(COUNTERS, 0)
        self._tickets: set[str] = set()
        self._disabled = False
        self._loop: asyncio.AbstractEventLoop | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # loop-only state
        self._conns: list[_Conn] = []
        self._n = 0
        self._rr = 0
        self._pending: dict[str, _Pending] = {}
        self._waiting: deque[_Pending] = deque()

    # ------------------------------------------------------------------ lifecycle
    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        """Bind to the serving loop and subscribe to the workspace's events."""
        self._loop = loop
        self._unsubscribe = self.workspace.subscribe(self._on_event)

    async def close(self) -> None:
        """Unsubscribe, cancel timers and close every connection (server shutdown)."""
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        for p in self._pending.values():
            if p.timer is not None:
                p.timer.cancel()
        self._pending.clear()
        self._waiting.clear()
        for conn in list(self._conns):
            self._unregister(conn)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.ws.close(), 1.0)
        self._loop = None

    # ------------------------------------------------------------------ public (thread-safe)
    def stats(self) -> dict[str, int]:
        """connections_opened, open, envelopes_sent, acked, redelivered,
        dropped_after_retries, lost_no_connection, events_published."""
        with self._lock:
            out = dict(self._counters)
            out["open"] = sum(not c.closed for c in self._conns)
            return out

    def reset_stats(self) -> None:
        with self._lock:
            self._counters = dict.fromkeys(COUNTERS, 0)

    @property
    def disabled(self) -> bool:
        return self._disabled

    def new_ticket(self) -> str:
        """A single-use ticket for /_sim/socket; SocketModeDisabled when disabled."""
        with self._lock:
            if self._disabled:
                raise SocketModeDisabled
            ticket = uuid.uuid4().hex
            self._tickets.add(ticket)
            return ticket

    def drop(self) -> int:
        """Close every open socket abruptly (a network error); returns how many."""
        return self._in_loop(self._drop)

    def disable(self) -> int:
        """Send disconnect/link_disabled to every connection (closed after CLOSE_GRACE_S)
        and refuse new tickets until enable(); returns the connections told."""
        with self._lock:
            self._disabled = True
        return self._in_loop(self._disable)

    def enable(self) -> None:
        with self._lock:
            self._disabled = False

    def _in_loop(self, fn: Callable[[], int]) -> int:
        loop = self._loop
        if loop is None:
            return 0
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            return fn()

        async def run() -> int:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(10)

    def _count(self, key: str, k: int = 1) -> None:
        with self._lock:
            self._counters[key] += k

    # ------------------------------------------------------------------ publishing
    def _on_event(self, event: dict[str, Any]) -> None:
        """Workspace subscriber: runs in the mutating thread; never blocks."""
        self._count("events_published")
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("not serving")
            loop.call_soon_threadsafe(self._publish, event, time.time())
        except RuntimeError:  # loop closed / not serving: nobody can receive it
            self._count("lost_no_connection")

    def _publish(self, event: dict[str, Any], t: float) -> None:
        ws = self.workspace
        event_id = "Ev" + uuid.uuid4().hex[:10].upper()
        payload: dict[str, Any] = {
            "token": "sim-verification-token",
            "team_id": ws.team_id,
            "context_team_id": ws.team_id,
            "context_enterprise_id": None,
            "api_app_id": self.app_id,
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(t),
            "authorizations": [
                {
                    "enterprise_id": None,
                    "team_id": ws.team_id,
                    "user_id": ws.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }
        conn = self._next_conn()
        if conn is None:
            self._count("lost_no_connection")
            return
        self._send(_Pending(event_id, payload), conn)

    def _next_conn(self) -> _Conn | None:
        live = [c for c in self._conns if not c.closed]
        cands = [c for c in live if not c.draining] or live
        if not cands:
            return None
        self._rr += 1
        return cands[self._rr % len(cands)]

    def _send(self, p: _Pending, conn: _Conn) -> None:
        assert self._loop is not None
        env_id = str(uuid.uuid4())
        frame = {
            "envelope_id": env_id,
            "payload": p.payload,
            "type": "events_api",
            "accepts_response_payload": False,
            "retry_attempt": p.attempt,
            "retry_reason": "timeout" if p.attempt else "",
        }
        self._pending[env_id] = p
        p.timer = self._loop.call_later(self.ack_timeout_s, self._timeout, env_id)
        conn.queue.put_nowait(orjson.dumps(frame))
        with self._lock:
            self._counters["envelopes_sent"] += 1
            self._counters["redelivered"] += p.attempt > 0

    def _timeout(self, env_id: str) -> None:
        p = self._pending.pop(env_id, None)
        if p is None:
            return
        if p.attempt >= self.max_retries:
            self._count("dropped_after_retries")
            return
        p.attempt += 1
        conn = self._next_conn()
        if conn is None:
            self._waiting.append(p)  # to the next connection that opens
        else:
            self._send(p, conn)

    def _on_frame(self, data: str) -> None:
        try:
            msg = orjson.loads(data)
        except orjson.JSONDecodeError:
            return
        if not isinstance(msg, dict):
            return
        p = self._pending.pop(str(msg.get("envelope_id", "")), None)
        if p is None:  # unknown, or an attempt that already timed out
            return
        if p.timer is not None:
            p.timer.cancel()
        self._count("acked")

    # ------------------------------------------------------------------ connections
    async def handle(self, request: web.Request) -> web.StreamResponse:
        """GET /_sim/socket?ticket=...: 401 for an unknown or used ticket, else the socket."""
        ticket = request.query.get("ticket", "")
        with self._lock:
            valid = ticket in self._tickets and not self._disabled
            self._tickets.discard(ticket)
        if not valid:
            return web.Response(status=401, text="invalid or used ticket")
        ws = web.WebSocketResponse(autoping=True, timeout=CLOSE_GRACE_S)
        await ws.prepare(request)
        loop = asyncio.get_running_loop()
        self._n += 1
        conn = _Conn(self._n, ws, request.transport)
        self._conns.append(conn)
        n_open = sum(not c.closed for c in self._conns)
        with self._lock:
            self._counters["connections_opened"] += 1
        hello = {
            "type": "hello",
            "num_connections": n_open,
            "debug_info": {
                "host": _DEBUG_HOST,
                "build_number": 1,
                "approximate_connection_time": int(self.refresh_s or 18060),
            },
            "connection_info": {"app_id": self.app_id},
        }
        conn.queue.put_nowait(orjson.dumps(hello))
        conn.sender = asyncio.create_task(self._sender(conn))
        if self.refresh_s is not None:
            warn_at = max(self.refresh_s - WARNING_BEFORE_S, self.refresh_s / 2)
            conn.timers.append(loop.call_later(warn_at, self._disconnect, conn, "warning"))
            conn.timers.append(loop.call_later(self.refresh_s, self._refresh, conn))
        while self._waiting:
            self._send(self._waiting.popleft(), conn)
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    self._on_frame(msg.data)
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._unregister(conn)
        return ws

    async def _sender(self, conn: _Conn) -> None:
        """Writes conn's frames in order; None closes the socket."""
        while True:
            frame = await conn.queue.get()
            try:
                if frame is None:
                    with contextlib.suppress(Exception):
                        await conn.ws.close()
                    return
                await conn.ws.send_str(frame.decode())
            except (ConnectionError, RuntimeError):
                return

    def _unregister(self, conn: _Conn) -> None:
        if conn.closed:
            return
        conn.closed = True
        for t in conn.timers:
            t.cancel()
        with contextlib.suppress(ValueError):
            self._conns.remove(conn)
        conn.queue.put_nowait(None)

    def _disconnect(self, conn: _Conn, reason: str) -> None:
        if conn.closed:
            return
        frame = {
            "type": "disconnect",
            "reason": reason,
            "debug_info": {"host": _DEBUG_HOST},
        }
        conn.queue.put_nowait(orjson.dumps(frame))

    def _refresh(self, conn: _Conn) -> None:
        self._wind_down(conn, "refresh_requested")

    def _wind_down(self, conn: _Conn, reason: str) -> None:
        if conn.closed:
            return
        self._disconnect(conn, reason)
        conn.draining = True
        assert self._loop is not None
        conn.timers.append(self._loop.call_later(CLOSE_GRACE_S, self._close_now, conn))

    def _close_now(self, conn: _Conn) -> None:
        """The grace period is over: close politely (after the queued frames)."""
        if not conn.closed:
            conn.draining = True
            conn.queue.put_nowait(None)

    def _drop(self) -> int:
        conns = [c for c in self._conns if not c.closed]
        for conn in conns:
            if conn.transport is not None:
                conn.transport.abort()  # type: ignore[attr-defined]
            self._unregister(conn)
        return len(conns)

    def _disable(self) -> int:
        conns = [c for c in self._conns if not c.closed]
        for conn in conns:
            self._wind_down(conn, "link_disabled")
        return len(conns)
