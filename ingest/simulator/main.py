"""`slack-ingest simulate`: serve a simulated workspace (or an Enterprise Grid org of
several, `--org N`) until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence

from .errors import SimulatorConfigError
from .faults import FaultSpec
from .org import DEFAULT_ORG_TOKEN, Org
from .ratelimit import check_profile
from .server import serve_simulator
from .socket import DEFAULT_APP_TOKEN
from .workspace import DEFAULT_TOKEN, Workspace


def run_simulator_cli(
    host: str = "127.0.0.1",
    port: int = 8765,
    size: str = "tiny",
    seed: int = 0,
    profile: str = "internal",
    time_scale: float = 1.0,
    latency_ms: float = 0.0,
    faults: str | None = None,
    token: str | None = None,
    app_token: str | None = None,
    socket_refresh_s: float | None = None,
    org: int | None = None,
    org_sizes: Sequence[str] | str | None = None,
) -> None:
    """Generate the workspace and serve it; prints one line with the base URL, the bot
    token and the app-level (Socket Mode) token.

    With `org` (a number of workspaces; `org_sizes` alone implies one per size) an
    Enterprise Grid org is served instead: the line names the org-wide token and each
    team id with its size; `token` is then the org token, `size` is not used.

    Bad input raises SimulatorConfigError (a ValueError) before anything is served.
    """
    check_profile(profile)
    spec = FaultSpec.parse(faults)
    ws: Workspace | Org
    if org is not None or org_sizes is not None:
        sizes = _parse_sizes(org_sizes)
        n = org if org is not None else len(sizes or ())
        if n < 1:
            raise SimulatorConfigError(f"--org must be at least 1, got {n}")
        ws = Org.generate(n, seed, sizes, token=token or DEFAULT_ORG_TOKEN)
    else:
        ws = Workspace.generate(size, seed, token=token or DEFAULT_TOKEN)
    if socket_refresh_s is not None and not socket_refresh_s > 0:
        raise SimulatorConfigError(f"socket refresh must be > 0 seconds, got {socket_refresh_s!r}")
    asyncio.run(
        _serve(
            ws,
            host,
            port,
            profile,
            time_scale,
            latency_ms,
            spec,
            app_token or DEFAULT_APP_TOKEN,
            socket_refresh_s,
        )
    )


def _parse_sizes(raw: Sequence[str] | str | None) -> list[str] | None:
    """ "small,tiny" (or a list) -> sizes; None for the default mix."""
    if raw is None:
        return None
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    sizes = [s.strip() for s in items if s.strip()]
    if not sizes:
        raise SimulatorConfigError(f"--org-sizes names no workspace size: {raw!r}")
    return sizes


def _banner(ws: Workspace | Org, base_url: str, profile: str, time_scale: float) -> str:
    if isinstance(ws, Org):
        s = ws.summary()
        teams = ",".join(f"{tid}:{size}" for tid, size in s["teams"])
        return (
            f"Slack simulator (Enterprise Grid org {ws.enterprise_id}, seed {ws.seed}, "
            f"{len(ws.workspaces)} workspaces, {s['channels']} channels, {s['messages']} "
            f"messages, {s['shared_channels']} shared channels, profile {profile}, "
            f"time_scale {time_scale:g}) serving {base_url} org-token {ws.token} teams {teams}"
        )
    s = ws.summary()
    return (
        f"Slack simulator ({ws.size}, seed {ws.seed}, {s['channels']} channels, "
        f"{s['messages']} messages, profile {profile}, time_scale {time_scale:g}) "
        f"serving {base_url} token {ws.token}"
    )


async def _serve(
    ws: Workspace | Org,
    host: str,
    port: int,
    profile: str,
    time_scale: float,
    latency_ms: float,
    spec: FaultSpec,
    app_token: str,
    socket_refresh_s: float | None,
) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        async with serve_simulator(
            ws,
            host=host,
            port=port,
            profile=profile,
            time_scale=time_scale,
            latency_ms=latency_ms,
            faults=spec,
            app_token=app_token,
            socket_refresh_s=socket_refresh_s,
        ) as sim:
            print(
                f"{_banner(ws, sim.base_url, profile, time_scale)} app-token {app_token}",
                flush=True,
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


__all__ = ["SimulatorConfigError", "run_simulator_cli"]
