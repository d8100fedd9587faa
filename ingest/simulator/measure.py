"""Measure the simulator: serving speed, memory when serving `large`, truth() time.

    python -m ingest.simulator.measure                  # everything (takes ~1 min)
    python -m ingest.simulator.measure --only speed --size medium --concurrency 8

Serving speed: the server runs in a child process (as `slack-ingest simulate` would) with
profile `unlimited`; this process pages conversations.history with limit=200 over
loopback, `concurrency` channels at a time (the biggest readable channels).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import psutil

from .generate import SIZES
from .workspace import Workspace

ROOT = Path(__file__).resolve().parents[2]


def _spawn(size: str, seed: int) -> tuple[subprocess.Popen[str], str, str]:
    code = (
        "from ingest.simulator.main import run_simulator_cli\n"
        f"run_simulator_cli(port=0, size={size!r}, seed={seed}, profile='unlimited')\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    words = line.split()
    base = next(w for w in words if w.startswith("http://"))
    token = words[words.index("token") + 1]
    return proc, base, token


async def _page_history(
    base: str, token: str, channels: list[str], concurrency: int, max_pages: int
) -> dict[str, Any]:
    pages = messages = 0
    latencies: list[float] = []
    queue = list(channels)
    conn = aiohttp.TCPConnector(limit=concurrency)
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession(connector=conn, headers=headers) as s:

        async def worker() -> None:
            nonlocal pages, messages
            while queue and pages < max_pages:
                cid = queue.pop(0)
                cursor = ""
                while pages < max_pages:
                    t = time.perf_counter()
                    async with s.post(
                        base + "conversations.history",
                        data={"channel": cid, "limit": "200", "cursor": cursor},
                    ) as r:
                        body = orjson.loads(await r.read())
                    latencies.append(time.perf_counter() - t)
                    assert body["ok"], body
                    pages += 1
                    messages += len(body["messages"])
                    cursor = body["response_metadata"]["next_cursor"]
                    if not cursor:
                        break

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    latencies.sort()
    return {
        "pages": pages,
        "messages": messages,
        "seconds": round(elapsed, 3),
        "pages_per_s": round(pages / elapsed, 1),
        "messages_per_s": round(messages / elapsed),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1),
        "p95_ms": round(latencies[int(len(latencies) * 0.95)] * 1000, 1),
    }


def _biggest_readable(ws: Workspace, n: int) -> list[str]:
    chans = sorted((ch for ch in ws.channels if ch.is_member), key=lambda ch: -ch.n_top)
    return [ch.id for ch in chans[:n]]


def measure_speed(size: str, concurrency: int, max_pages: int, seed: int = 0) -> dict[str, Any]:
    ws = Workspace.generate(size, seed)
    proc, base, token = _spawn(size, seed)
    try:
        server = psutil.Process(proc.pid)
        result = asyncio.run(
            _page_history(base, token, _biggest_readable(ws, 64), concurrency, max_pages)
        )
        result["server_rss_mib"] = round(server.memory_info().rss / 2**20, 1)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"size": size, "concurrency": concurrency, **result}


def measure_truth(sizes: tuple[str, ...] = SIZES) -> dict[str, Any]:
    out = {}
    for size in sizes:
        t = time.perf_counter()
        ws = Workspace.generate(size, 0)
        gen = time.perf_counter() - t
        t = time.perf_counter()
        truth = ws.truth()
        out[size] = {
            "generate_s": round(gen, 3),
            "truth_s": round(time.perf_counter() - t, 3),
            "messages": truth.message_count(),
            "replies": truth.reply_count(),
            "readable_channels": len(truth.readable_channel_ids),
        }
        del truth, ws
    return out


def main() -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", choices=("speed", "large", "truth"), default=None)
    ap.add_argument("--size", default="medium")
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--pages", type=int, default=1500)
    args = ap.parse_args()
    report: dict[str, Any] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if args.only in (None, "speed"):
        report["speed"] = [measure_speed(args.size, c, args.pages) for c in (1, args.concurrency)]
    if args.only in (None, "large"):
        report["large"] = measure_speed("large", args.concurrency, 400)
    if args.only in (None, "truth"):
        report["truth"] = measure_truth()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
