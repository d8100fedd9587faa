"""One budget shared by clients in two threads, each with its own event loop (as Prefect's
``.submit()`` runs tasks), against a minimal loopback server that records arrival times."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from ingest.slack import AsyncSlackClient, Bucket
from tests.slack.conftest import TOKEN


class ArrivalServer:
    """Answers ok:true to every method and records (monotonic time, method) per request."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, str]] = []
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self.port = 0
        self._thread = threading.Thread(target=self._run, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        with self._lock:
            self.arrivals.append((time.monotonic(), method))
        return web.json_response({"ok": True, "team_id": "TSHARED", "user_id": "U1"})

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        app = web.Application()
        app.router.add_post("/api/{method}", self._handle)
        runner = web.AppRunner(app)
        loop.run_until_complete(runner.setup())
        site = web.TCPSite(runner, "127.0.0.1", 0)
        loop.run_until_complete(site.start())
        self.port = runner.addresses[0][1]
        self._runner = runner
        self._ready.set()
        loop.run_forever()
        loop.run_until_complete(runner.cleanup())
        loop.close()

    def start(self) -> None:
        self._thread.start()
        assert self._ready.wait(10)

    def stop(self) -> None:
        assert self._loop is not None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"

    def times(self, method: str) -> list[float]:
        with self._lock:
            return sorted(t for t, m in self.arrivals if m == method)


@pytest.fixture
def server() -> Iterator[ArrivalServer]:
    srv = ArrivalServer()
    srv.start()
    yield srv
    srv.stop()


def test_two_threads_two_loops_share_one_budget(server: ArrivalServer) -> None:
    per_thread = 30
    overrides = {"conversations.info": {"rate_per_min": 60, "burst": 1}}
    time_scale = 60.0  # 60/min at 60x => one request per 1/60 s for both threads together
    buckets: list[Bucket] = []
    errors: list[BaseException] = []
    start = threading.Barrier(2)

    def worker() -> None:
        async def work() -> None:
            async with AsyncSlackClient(
                TOKEN,
                base_url=server.base_url,
                time_scale=time_scale,
                overrides=overrides,
                workspace_key="shared-workspace",
            ) as client:
                buckets.append(client.bucket("conversations.info"))
                start.wait(5)
                calls: list[Any] = [
                    client.call("conversations.info", channel=f"C{i}") for i in range(per_thread)
                ]
                await asyncio.gather(*calls)

        try:
            asyncio.run(work())
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors, errors
    assert len(buckets) == 2 and buckets[0] is buckets[1]
    arrivals = server.times("conversations.info")
    assert len(arrivals) == 2 * per_thread
    interval = 60.0 / (60 * time_scale)
    span = arrivals[-1] - arrivals[0]
    # one shared budget: 59 intervals (~0.98 s); two separate budgets would take ~0.48 s
    assert span >= 0.8 * (2 * per_thread - 1) * interval
    assert span < 5.0
