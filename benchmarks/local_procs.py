"""Processes a benchmark or an end-to-end test starts on this machine (a `prefect server
start`, workers, `flow serve`): a free loopback port, start in its own session with a log
file, wait for the server's health, stop the process and everything it started."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start `args` in the repository, in its own session, output to `log`."""
    fh = open(log, "wb")  # noqa: SIM115 - closed with the process
    return subprocess.Popen(
        args, env=env, cwd=REPO, stdout=fh, stderr=subprocess.STDOUT, start_new_session=True
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """End a process we started and everything it started (its own session)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=15)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            _kill_group(proc)
            proc.wait(timeout=5)
    else:  # the leader exited; its flow-run children may not have
        _kill_group(proc)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)


def wait_healthy(api_url: str, timeout: float) -> None:
    """Wait for a Prefect server's `/health` at `api_url` (…/api)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with urllib.request.urlopen(f"{api_url}/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.25)
    raise TimeoutError(f"prefect server at {api_url} did not become healthy in {timeout:.0f}s")


def tail(path: Path, n: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def prefect_env(home: Path, api_url: str, **extra: str) -> dict[str, str]:
    """This process's environment for a Prefect server, worker or served flow of our own:
    no PREFECT_* or Slack settings inherited, its own PREFECT_HOME, no analytics."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("PREFECT_", "SOURCES__SLACK__"))
    }
    env.update(
        {
            "PREFECT_HOME": str(home),
            "PREFECT_API_URL": api_url,
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "DO_NOT_TRACK": "1",
            "SLACK_INGEST_HOME": str(REPO),
            "RUNTIME__LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env
