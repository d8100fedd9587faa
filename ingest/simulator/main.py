"""`slack-ingest simulate`: serve a simulated workspace until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import signal

from .errors import SimulatorConfigError
from .faults import FaultSpec
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
) -> None:
    """Generate the workspace and serve it; prints one line with the base URL, the bot
    token and the app-level (Socket Mode) token.

    Bad input raises SimulatorConfigError (a ValueError) before anything is served.
    """
    check_profile(profile)
    spec = FaultSpec.parse(faults)
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


async def _serve(
    ws: Workspace,
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
            s = ws.summary()
            print(
                f"Slack simulator ({ws.size}, seed {ws.seed}, {s['channels']} channels, "
                f"{s['messages']} messages, profile {profile}, time_scale {time_scale:g}) "
                f"serving {sim.base_url} token {ws.token} app-token {app_token}",
                flush=True,
            )
            await stop.wait()
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)


__all__ = ["SimulatorConfigError", "run_simulator_cli"]
