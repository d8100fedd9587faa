"""The simulator in a child process, driven over HTTP (`/_sim/*`)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class SimProcess:
    """`with SimProcess("small", profile="internal", time_scale=60) as sim:` -> `sim.base_url`,
    `sim.token`, `sim.messages` (the truth's message count), `sim.stats(timeline=True)`."""

    def __init__(
        self,
        size: str,
        *,
        seed: int = 0,
        profile: str = "internal",
        time_scale: float = 1.0,
        latency_ms: float = 0.0,
        start_timeout_s: float = 600.0,
        app_token: str | None = None,
        ack_timeout_s: float | None = None,
        org: int = 0,
        org_sizes: tuple[str, ...] | None = None,
    ) -> None:
        self.size = size
        self.seed = seed
        self.profile = profile
        self.time_scale = time_scale
        self.latency_ms = latency_ms
        self.start_timeout_s = start_timeout_s
        self.app_token_option = app_token
        self.ack_timeout_s = ack_timeout_s
        self.org = org
        self.org_sizes = org_sizes
        self.proc: subprocess.Popen[str] | None = None
        self.hello: dict[str, Any] = {}

    # -- lifecycle -----------------------------------------------------------------------
    def start(self) -> SimProcess:
        cmd = [
            sys.executable,
            "-m",
            "benchmarks.sim_server",
            "--size",
            self.size,
            "--seed",
            str(self.seed),
            "--profile",
            self.profile,
            "--time-scale",
            repr(float(self.time_scale)),
            "--latency-ms",
            repr(float(self.latency_ms)),
        ]
        if self.app_token_option:
            cmd += ["--app-token", self.app_token_option]
        if self.ack_timeout_s is not None:
            cmd += ["--ack-timeout-s", repr(float(self.ack_timeout_s))]
        if self.org:
            cmd += ["--org", str(self.org)]
            if self.org_sizes:
                cmd += ["--org-sizes", ",".join(self.org_sizes)]
        env = {
            **os.environ,
            "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""),
        }
        self.proc = subprocess.Popen(
            cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=str(ROOT), env=env
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            code = self.proc.wait(timeout=10)
            raise RuntimeError(f"simulator child exited ({code}) before it listened")
        self.hello = json.loads(line)
        return self

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        finally:
            if proc.stdout:
                proc.stdout.close()

    def __enter__(self) -> SimProcess:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    # -- attributes ----------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def base_url(self) -> str:
        return str(self.hello["base_url"])

    @property
    def url(self) -> str:
        return str(self.hello["url"])

    @property
    def token(self) -> str:
        return str(self.hello["token"])

    @property
    def app_token(self) -> str:
        """The Socket Mode app token the simulator accepts (`slack-ingest listen`)."""
        return str(self.hello["app_token"])

    @property
    def messages(self) -> int:
        return int(self.hello["messages"])

    # -- admin API -----------------------------------------------------------------------
    def _admin(self, path: str, *, post: bool = False, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(
            self.url + path,
            method="POST" if post else "GET",
            data=json.dumps(body or {}).encode() if post else None,
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    def stats(self, *, timeline: bool = False) -> dict[str, Any]:
        return dict(self._admin("/_sim/stats" + ("?timeline=1" if timeline else "")))

    def reset_stats(self) -> None:
        self._admin("/_sim/stats/reset", post=True)

    def mutate(self, rng_seed: int, n: int, *, any_age: bool = True) -> dict[str, int]:
        """`POST /_sim/mutate` (`Workspace.mutate`): a random mix of changes; counts per op."""
        answer = self._admin(
            "/_sim/mutate",
            post=True,
            body={"op": "mutate", "rng_seed": rng_seed, "n": n, "any_age": any_age},
        )
        if not answer.get("ok"):
            raise RuntimeError(f"mutate failed: {answer}")
        return dict(answer["result"])

    def truth(self) -> dict[str, Any]:
        """`GET /_sim/truth`: keys, names, edited texts, deleted keys (up to `medium`)."""
        return dict(self._admin("/_sim/truth"))
