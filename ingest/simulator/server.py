"""HTTP server: Slack's /api/<method> plus /_sim/* admin endpoints (aiohttp.web).

Request pipeline for /api/<method>: read params -> stats (overall and for the team the
request counts against) -> latency -> 429 storm -> fault draw ->
unknown method -> auth (and, for an org, the team the request acts on) -> rate limit of
(team, method) -> method. Faults never touch /_sim/*. The simulator serves one Workspace
or an Enterprise Grid `Org` (org.py routes each request to a workspace's Api).
apps.connections.open (app-level token only, no rate limit) and the Socket Mode
WebSocket /_sim/socket are in `socket.py`. Every JSON answer carries
`Content-Type: application/json; charset=utf-8`, as Slack's do.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

import orjson
from aiohttp import web

from .api import ALL_SCOPES, Api, ApiError, TokenInfo
from .errors import SimulatorConfigError
from .faults import HTTP_FAULTS, OK_FALSE_FAULTS, FaultInjector, FaultSpec
from .org import Org, OrgRouter, SingleRouter
from .ratelimit import RateLimiter, check_profile, format_retry_after
from .socket import DEFAULT_APP_TOKEN, DISABLED_ERROR, SocketMode, SocketModeDisabled
from .stats import Stats
from .workspace import MUTATION_OPS, Workspace

TRUTH_MAX_SIZE = ("tiny", "small", "medium")
_HTML = (
    "<html><head><title>{code} {reason}</title></head><body><h1>{code} {reason}</h1></body></html>"
)
_REASONS = {
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_JSON = "application/json"
_JSON_CT = "application/json; charset=utf-8"
CONNECTIONS_OPEN = "apps.connections.open"


def _to_str(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value)
    if isinstance(value, dict):
        return orjson.dumps(value).decode()
    return str(value)


def _json_bytes(
    payload: bytes, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    """A JSON answer with Slack's `Content-Type: application/json; charset=utf-8`."""
    return web.Response(
        body=payload, status=status, headers={**(headers or {}), "Content-Type": _JSON_CT}
    )


def _json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return _json_bytes(orjson.dumps(body), status, headers)


class Simulator:
    """A configured simulator; `serve_simulator` / `SimulatorThread` bind it to a port."""

    def __init__(
        self,
        workspace: Workspace | Org,
        *,
        profile: str = "internal",
        time_scale: float = 1.0,
        latency_ms: float = 0.0,
        faults: str | FaultSpec | None = None,
        replies_parent_every_page: bool = True,
        app_token: str = DEFAULT_APP_TOKEN,
        ack_timeout_s: float = 3.0,
        max_retries: int = 3,
        socket_refresh_s: float | None = None,
    ) -> None:
        check_profile(profile)
        if not time_scale > 0:
            raise SimulatorConfigError(f"time_scale must be > 0, got {time_scale!r}")
        if latency_ms < 0:
            raise SimulatorConfigError(f"latency_ms must be >= 0, got {latency_ms!r}")
        self.org: Org | None = workspace if isinstance(workspace, Org) else None
        self.profile = profile
        self.time_scale = float(time_scale)
        self.latency_s = latency_ms / 1000.0
        self.router: SingleRouter | OrgRouter
        if isinstance(workspace, Org):
            if app_token == workspace.token:
                raise SimulatorConfigError("app_token must differ from the org token")
            self.router = OrgRouter(workspace, profile, replies_parent_every_page)
            workspace = workspace.workspaces[0]  # Socket Mode and /_sim defaults
        else:
            self.router = SingleRouter(Api(workspace, profile, replies_parent_every_page))
        self.workspace = workspace
        self.api: Api = self.router.api
        self.limiter = RateLimiter(profile, self.time_scale)
        self._faults = FaultInjector(FaultSpec.parse(faults), self.time_scale)
        self._stats = Stats(self.time_scale)
        self.socket = SocketMode(
            workspace,
            app_token=app_token,
            ack_timeout_s=ack_timeout_s,
            max_retries=max_retries,
            refresh_s=socket_refresh_s,
        )
        self.url = ""
        self.base_url = ""
        self.port = 0

    # ------------------------------------------------------------------ public API
    def stats(self, timeline: bool = False) -> dict[str, Any]:
        """Same dict as GET /_sim/stats (thread-safe); "socket" holds the Socket Mode counters."""
        out = self._stats.snapshot(timeline)
        out["socket"] = self.socket.stats()
        return out

    def reset_stats(self) -> None:
        self._stats.reset()
        self.socket.reset_stats()

    @property
    def faults(self) -> FaultSpec:
        return self._faults.spec

    def set_faults(self, spec: str | FaultSpec | None) -> None:
        """Replace the fault spec at runtime ("" or None = no faults).

        A 429 storm already under way runs to its end (it lasts storm_s Slack-seconds).
        """
        injector = FaultInjector(FaultSpec.parse(spec), self.time_scale)
        injector.inherit_storms(self._faults)
        self._faults = injector

    def add_token(
        self,
        token: str,
        *,
        scopes: set[str] | None = None,
        revoked: bool = False,
        expired: bool = False,
        inactive: bool = False,
        team_id: str | None = None,
    ) -> None:
        """Register another token of the same app (it shares the rate limits).

        For an org: an org-wide token, or with team_id a token of that workspace."""
        info = TokenInfo(
            scopes=frozenset(scopes) if scopes is not None else ALL_SCOPES,
            revoked=revoked,
            expired=expired,
            inactive=inactive,
        )
        router = self.router
        if isinstance(router, OrgRouter):
            if team_id is None:
                router.org_tokens[token] = info
            elif team_id in router.apis:
                router.apis[team_id].tokens[token] = info
            else:
                raise SimulatorConfigError(f"team {team_id!r} is not a workspace of the org")
        else:
            self.api.tokens[token] = info

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle_api)
        app.router.add_get("/_sim/health", self._health)
        app.router.add_get("/_sim/stats", self._get_stats)
        app.router.add_post("/_sim/stats/reset", self._reset_stats)
        app.router.add_get("/_sim/truth", self._truth)
        app.router.add_post("/_sim/mutate", self._mutate)
        app.router.add_post("/_sim/faults", self._set_faults)
        app.router.add_get("/_sim/socket", self.socket.handle)
        app.router.add_post("/_sim/socket/drop", self._socket_drop)
        app.router.add_post("/_sim/socket/disable", self._socket_disable)
        app.router.add_post("/_sim/socket/enable", self._socket_enable)
        return app

    # ------------------------------------------------------------------ /api
    async def _read_params(self, request: web.Request) -> tuple[dict[str, str], str | None]:
        params: dict[str, str] = dict(request.query)
        if request.method == "POST" and request.can_read_body:
            if request.content_type == _JSON:
                try:
                    data = orjson.loads(await request.read())
                except orjson.JSONDecodeError:
                    raise ApiError("invalid_json") from None
                if not isinstance(data, dict):
                    raise ApiError("invalid_json")
                for k, v in data.items():
                    s = _to_str(v)
                    if s is not None:
                        params[k] = s
            else:
                form = await request.post()
                for k, v in form.items():
                    if isinstance(v, str):
                        params[k] = v
        token = params.pop("token", None)
        auth = request.headers.get("Authorization", "")
        if auth[:7].lower() == "bearer ":
            token = auth[7:].strip()
        return params, token

    def _ratelimited(
        self, method: str, t: float, wait_s: float, team: str | None = None
    ) -> web.Response:
        self._stats.finish(method, t, 429, ratelimited=True, team=team)
        return _json(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": format_retry_after(wait_s, self.time_scale)},
        )

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        stats = self._stats
        router = self.router
        # read first: the team a request counts against (stats, rate limits) is in it
        read_error: ApiError | None = None
        try:
            params, token = await self._read_params(request)
        except ApiError as e:
            params, token, read_error = {}, None, e
        team = router.team_of(method, params, token) if read_error is None else None
        t = stats.arrive(method, team)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        faults = self._faults
        storm = faults.storm_remaining(method, time.monotonic())
        if storm > 0:
            return self._ratelimited(method, t, storm, team)
        fault = faults.draw()
        if fault is not None:
            early = await self._early_fault(request, method, t, fault, team)
            if early is not None:
                return early
        try:
            if read_error is not None:
                raise read_error
            if method == CONNECTIONS_OPEN:
                body = self._connections_open(request, token)
                stats.finish(method, t, 200, items=1, fault=fault, team=team)
                return _json(body)
            if method not in router.methods:
                raise ApiError("unknown_method")
            if token is not None and token == self.socket.app_token:
                raise ApiError("not_allowed_token_type")
            limit_team, handler = router.route(method, params, token)
            wait = self.limiter.check(method, limit_team)
            if wait > 0:
                return self._ratelimited(method, t, wait, team)
            body = handler()
        except ApiError as e:
            stats.finish(method, t, 200, error=True, team=team)
            return _json(e.body())
        payload = orjson.dumps(body)
        if fault == "badjson":
            stats.finish(method, t, 200, error=True, fault=fault, team=team)
            return _json_bytes(payload[: max(1, len(payload) // 2)])
        stats.finish(method, t, 200, items=router.items_of(body), fault=fault, team=team)
        return _json_bytes(payload)

    def _connections_open(self, request: web.Request, token: str | None) -> dict[str, Any]:
        """apps.connections.open: the app-level token only; a single-use ws:// ticket URL."""
        if not token:
            raise ApiError("not_authed")
        if token != self.socket.app_token:
            if self.router.knows(token):
                raise ApiError("not_allowed_token_type")
            raise ApiError("invalid_auth")
        try:
            ticket = self.socket.new_ticket()
        except SocketModeDisabled:
            raise ApiError(DISABLED_ERROR) from None
        return {"ok": True, "url": f"ws://{request.host}/_sim/socket?ticket={ticket}"}

    async def _early_fault(
        self, request: web.Request, method: str, t: float, fault: str, team: str | None = None
    ) -> web.StreamResponse | None:
        """Apply a fault that answers before the method runs; None to go on (slow, badjson)."""
        stats = self._stats
        if fault == "slow":
            await asyncio.sleep(self._faults.spec.slow_s)
            return None
        if fault == "badjson":
            return None
        if fault == "reset":
            stats.finish(method, t, 0, error=True, fault=fault, team=team)
            if request.transport is not None:
                request.transport.abort()  # no response at all: the client sees a disconnect
            return web.Response(status=500)
        if fault in HTTP_FAULTS:
            code = HTTP_FAULTS[fault]
            stats.finish(method, t, code, error=True, fault=fault, team=team)
            return web.Response(
                status=code,
                text=_HTML.format(code=code, reason=_REASONS[code]),
                content_type="text/html",
            )
        if fault in OK_FALSE_FAULTS:
            stats.finish(method, t, 200, error=True, fault=fault, team=team)
            return _json({"ok": False, "error": fault})
        if fault == "storm":
            stats.finish(method, t, 429, ratelimited=True, fault=fault, team=team)
            length = self._faults.start_storm(method, time.monotonic())
            return _json(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": format_retry_after(length, self.time_scale)},
            )
        raise AssertionError(f"unhandled fault {fault}")

    # ------------------------------------------------------------------ /_sim
    async def _health(self, request: web.Request) -> web.Response:
        ws = self.workspace
        body: dict[str, Any] = {
            "ok": True,
            "size": ws.size,
            "seed": ws.seed,
            "team_id": ws.team_id,
            "profile": self.profile,
            "time_scale": self.time_scale,
            "faults": str(self.faults) if self.faults.enabled else "",
        }
        if self.org is not None:
            body["enterprise_id"] = self.org.enterprise_id
            body["teams"] = [{"id": w.team_id, "size": w.size} for w in self.org.workspaces]
        return _json(body)

    def _team_workspace(self, request: web.Request) -> Workspace | None:
        """The workspace named by ?team_id= (ValueError if unknown); None if none is named."""
        tid = request.query.get("team_id")
        if not tid:
            return None
        if self.org is None:
            if tid != self.workspace.team_id:
                raise ValueError(f"unknown team_id {tid!r}")
            return self.workspace
        if not self.org.has_team(tid):
            raise ValueError(f"unknown team_id {tid!r}")
        return self.org.workspace(tid)

    async def _get_stats(self, request: web.Request) -> web.Response:
        timeline = request.query.get("timeline", "") in ("1", "true")
        return _json(self.stats(timeline))

    async def _reset_stats(self, request: web.Request) -> web.Response:
        self.reset_stats()
        return _json({"ok": True})

    async def _truth(self, request: web.Request) -> web.Response:
        try:
            named = self._team_workspace(request)
        except ValueError as e:
            return _json({"ok": False, "error": str(e)}, 400)
        if named is None and self.org is not None:
            return await self._org_truth(self.org)
        ws = named or self.workspace
        if ws.size not in TRUTH_MAX_SIZE:
            return _json(
                {"ok": False, "error": f"truth of a {ws.size} workspace is too big to serve"}, 400
            )
        truth = await asyncio.get_running_loop().run_in_executor(None, ws.truth)
        return _json(
            {
                "ok": True,
                "team_id": truth.team_id,
                "channel_ids": sorted(truth.channel_ids),
                "readable_channel_ids": sorted(truth.readable_channel_ids),
                "user_ids": sorted(truth.user_ids),
                "members": sorted(truth.members),
                "messages": sorted(truth.messages),
                "message_count": truth.message_count(),
                "reply_count": truth.reply_count(),
                "channel_names": truth.channel_names,
                "archived": sorted(truth.archived),
                "user_names": truth.user_names,
                "edited": sorted([c, ts, text] for (c, ts), text in truth.edited.items()),
                "deleted": sorted(truth.deleted),
            }
        )

    async def _org_truth(self, org: Org) -> web.Response:
        big = [w.team_id for w in org.workspaces if w.size not in TRUTH_MAX_SIZE]
        if big:
            return _json(
                {"ok": False, "error": f"truth of {', '.join(big)} is too big to serve"}, 400
            )
        truth = await asyncio.get_running_loop().run_in_executor(None, org.truth)
        return _json(
            {
                "ok": True,
                "enterprise_id": truth.enterprise_id,
                "team_ids": list(truth.teams),
                "channel_ids": sorted(truth.channel_ids),
                "readable_channel_ids": sorted(truth.readable_channel_ids),
                "user_ids": sorted(truth.user_ids),
                "members": sorted(truth.members),
                "messages": sorted(truth.messages),
                "message_count": truth.message_count(),
                "reply_count": truth.reply_count(),
                "channel_team": truth.channel_team,
                "user_team": truth.user_team,
                "shared": {c: sorted(ts) for c, ts in truth.shared.items()},
            }
        )

    async def _body_json(self, request: web.Request) -> dict[str, Any]:
        try:
            data = orjson.loads(await request.read())
        except orjson.JSONDecodeError as e:
            raise ValueError(f"invalid JSON body: {e}") from None
        if not isinstance(data, dict):
            raise ValueError("JSON body must be an object")
        return data

    async def _mutate(self, request: web.Request) -> web.Response:
        try:
            data = await self._body_json(request)
            op = data.pop("op", None)
            if op not in (*MUTATION_OPS, "mutate"):
                raise ValueError(
                    f"unknown op {op!r}; expected one of {', '.join((*MUTATION_OPS, 'mutate'))}"
                )
            target: Workspace | Org = self._team_workspace(request) or self.workspace
            if self.org is not None and not request.query.get("team_id"):
                target = self._org_target(self.org, op, data)
            result = getattr(target, op)(**data)
        except (TypeError, ValueError) as e:
            return _json({"ok": False, "error": str(e)}, 400)
        return _json({"ok": True, "result": result})

    @staticmethod
    def _org_target(org: Org, op: str, data: dict[str, Any]) -> Workspace | Org:
        """Without ?team_id=: "mutate" spreads over the org; a channel op goes to its host."""
        if op == "mutate":
            return org
        cid = data.get("channel_id")
        host = org.host_of(cid) if isinstance(cid, str) else None
        if host is None:
            raise ValueError(f"op {op!r} on an org needs ?team_id= (or a known channel_id)")
        return host

    async def _socket_drop(self, request: web.Request) -> web.Response:
        return _json({"ok": True, "dropped": self.socket.drop()})

    async def _socket_disable(self, request: web.Request) -> web.Response:
        return _json({"ok": True, "disconnected": self.socket.disable()})

    async def _socket_enable(self, request: web.Request) -> web.Response:
        self.socket.enable()
        return _json({"ok": True})

    async def _set_faults(self, request: web.Request) -> web.Response:
        try:
            data = await self._body_json(request)
            self.set_faults(data.get("spec") or None)
        except ValueError as e:
            return _json({"ok": False, "error": str(e)}, 400)
        return _json({"ok": True, "spec": str(self.faults) if self.faults.enabled else ""})


@contextlib.asynccontextmanager
async def serve_simulator(
    workspace: Workspace | Org,
    *,
    host: str = "127.0.0.1",
    port: int = 0,
    profile: str = "internal",
    time_scale: float = 1.0,
    latency_ms: float = 0.0,
    faults: str | FaultSpec | None = None,
    replies_parent_every_page: bool = True,
    app_token: str = DEFAULT_APP_TOKEN,
    ack_timeout_s: float = 3.0,
    max_retries: int = 3,
    socket_refresh_s: float | None = None,
) -> AsyncIterator[Simulator]:
    """Serve the workspace (or the org) in the current event loop; yields the Simulator."""
    sim = Simulator(
        workspace,
        profile=profile,
        time_scale=time_scale,
        latency_ms=latency_ms,
        faults=faults,
        replies_parent_every_page=replies_parent_every_page,
        app_token=app_token,
        ack_timeout_s=ack_timeout_s,
        max_retries=max_retries,
        socket_refresh_s=socket_refresh_s,
    )
    runner = web.AppRunner(
        sim.make_app(), access_log=None, handle_signals=False, shutdown_timeout=0.5
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as e:
            raise SimulatorConfigError(
                f"cannot listen on {host}:{port}: {e.strerror or e}"
            ) from None
        sim.port = runner.addresses[0][1]
        url_host = f"[{host}]" if ":" in host else host
        sim.url = f"http://{url_host}:{sim.port}"
        sim.base_url = sim.url + "/api/"
        sim.socket.start(asyncio.get_running_loop())
        yield sim
    finally:
        await sim.socket.close()
        await runner.cleanup()


class SimulatorThread:
    """The simulator in a daemon thread with its own event loop (for sync callers)."""

    def __init__(self, workspace: Workspace | Org, **kwargs: Any) -> None:
        self.org: Org | None = workspace if isinstance(workspace, Org) else None
        self._target = workspace
        # an org's first workspace, like Simulator.workspace
        self.workspace = workspace.workspaces[0] if isinstance(workspace, Org) else workspace
        self._kwargs = kwargs
        # validate eagerly so bad input fails in the caller's thread
        Simulator(workspace, **{k: v for k, v in kwargs.items() if k not in ("host", "port")})
        self._sim: Simulator | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    def start(self) -> SimulatorThread:
        """Start serving; returns once the port is bound (raises what binding raised)."""
        if self._thread is not None:
            raise RuntimeError("SimulatorThread already started")
        self._thread = threading.Thread(target=self._run, name="slack-simulator", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._error is not None:
            self._thread.join()
            raise self._error
        return self

    def _run(self) -> None:
        asyncio.run(self._main())

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        try:
            async with serve_simulator(self._target, **self._kwargs) as sim:
                self._sim = sim
                self._ready.set()
                await self._stop.wait()
        except BaseException as e:  # handed to the thread that called start()
            self._error = e
        finally:
            self._ready.set()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving and join the thread."""
        if self._thread is None:
            return
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout)
        self._thread = None

    def __enter__(self) -> SimulatorThread:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def sim(self) -> Simulator:
        if self._sim is None:
            raise RuntimeError("SimulatorThread not started")
        return self._sim

    @property
    def base_url(self) -> str:
        return self.sim.base_url

    @property
    def url(self) -> str:
        return self.sim.url

    @property
    def port(self) -> int:
        return self.sim.port

    def stats(self, timeline: bool = False) -> dict[str, Any]:
        return self.sim.stats(timeline)

    def reset_stats(self) -> None:
        self.sim.reset_stats()

    def set_faults(self, spec: str | FaultSpec | None) -> None:
        self.sim.set_faults(spec)

    def add_token(self, token: str, **kwargs: Any) -> None:
        self.sim.add_token(token, **kwargs)

    @property
    def socket(self) -> SocketMode:
        """Socket Mode controls (drop/disable/enable/stats are thread-safe)."""
        return self.sim.socket
