"""Serve a simulated workspace in this process until stdin closes (the benchmarks' child).

`python -m benchmarks.sim_server --size small --profile internal --time-scale 60` prints one
JSON line (`base_url`, `url`, `token`, `app_token` (Socket Mode), `team_id`, `messages`,
`channels`, `gen_s`) once the server listens, then serves until its stdin reaches EOF (the
parent closed it or died). Running the simulator in its own process keeps its CPU and memory
out of the measured one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any


def _counts(ws: Any, size: str) -> dict[str, int]:
    if size == "large":  # truth() would build a 2M-element set; count lazily instead
        return {"messages": sum(1 for _ in ws.iter_message_keys())}
    truth = ws.truth()
    return {
        "messages": truth.message_count(),
        "replies": truth.reply_count(),
        "channels": len(truth.channel_ids),
        "readable_channels": len(truth.readable_channel_ids),
    }


async def _serve(args: argparse.Namespace) -> None:
    from ingest.simulator import Workspace, serve_simulator

    t0 = time.perf_counter()
    served: Any
    if args.org:
        from ingest.simulator.org import Org

        sizes = args.org_sizes.split(",") if args.org_sizes else None
        served = Org.generate(args.org, seed=args.seed, sizes=sizes)
        ws = served.workspaces[0]
        truth = served.truth()
        counts = {
            "messages": truth.message_count(),
            "channels": len(truth.channel_ids),
            "readable_channels": len(truth.readable_channel_ids),
        }
        org_info: dict[str, Any] = {
            "enterprise_id": served.enterprise_id,
            "teams": {
                t: {"size": w.size, "messages": truth.teams[t].message_count()}
                for t, w in ((w.team_id, w) for w in served.workspaces)
            },
        }
    else:
        served = ws = Workspace.generate(args.size, seed=args.seed)
        counts = _counts(ws, args.size)
        org_info = {}
    gen_s = time.perf_counter() - t0
    kwargs: dict[str, Any] = {}
    if args.app_token:
        kwargs["app_token"] = args.app_token
    if args.ack_timeout_s is not None:
        kwargs["ack_timeout_s"] = args.ack_timeout_s
    async with serve_simulator(
        served,
        profile=args.profile,
        time_scale=args.time_scale,
        latency_ms=args.latency_ms,
        **kwargs,
    ) as sim:
        hello = {
            "base_url": sim.base_url,
            "url": sim.url,
            "token": served.token,
            "app_token": sim.socket.app_token,
            "team_id": ws.team_id,
            "gen_s": round(gen_s, 3),
            **counts,
            **org_info,
        }
        sys.stdout.write(json.dumps(hello) + "\n")
        sys.stdout.flush()
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.sim_server")
    p.add_argument("--size", default="tiny")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--profile", default="internal")
    p.add_argument("--time-scale", type=float, default=1.0)
    p.add_argument("--latency-ms", type=float, default=0.0)
    p.add_argument("--app-token", default=None, help="Socket Mode app token [simulator's]")
    p.add_argument("--ack-timeout-s", type=float, default=None)
    p.add_argument("--org", type=int, default=0, help="serve an Enterprise Grid org of N")
    p.add_argument("--org-sizes", default=None, help="the org's workspace sizes, comma-separated")
    args = p.parse_args(argv)
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
