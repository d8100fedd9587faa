"""Helpers shared by the resilience tests: CLI subprocesses against a loopback simulator,
snapshots of what a run left behind, and the checks every test ends with."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from ingest.load.run import Target
from tests.integration.helpers import assert_matches_truth, query

REPO = Path(__file__).resolve().parents[2]


def cli_env(
    token: str | None, pipelines_dir: Path | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """A clean environment for `slack-ingest`: no inherited SOURCES__SLACK__* or
    SLACK_INGEST__* settings, no cloud credentials from the developer's machine (environment,
    gcloud's defaults, GCE: a BigQuery case must find none), the repo importable
    (tests.reliability.* hooks), the token only through dlt's environment provider."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(
            (
                "SOURCES__SLACK",
                "SLACK_INGEST__",
                "SLACK_INGEST_DEBUG",
                "DESTINATION__",
                "CREDENTIALS__",
            )
        )
        and k not in ("GOOGLE_APPLICATION_CREDENTIALS", "GOOGLE_CLOUD_PROJECT")
    }
    env["CLOUDSDK_CONFIG"] = os.path.join(tempfile.gettempdir(), "slack-ingest-no-gcloud")
    env["NO_GCE_CHECK"] = "True"
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH")) if p)
    if token is not None:
        env["SOURCES__SLACK__ACCESS_TOKEN"] = token
    if pipelines_dir is not None:
        env["SLACK_INGEST__PIPELINES_DIR"] = str(pipelines_dir)
    # no analytics models after the load (seconds of dbt per run; tests/analytics cover them)
    env["SLACK_INGEST__MODELS"] = "no"
    env.update(extra or {})
    return env


def cli_argv(args: list[str], preload: str | None = None) -> list[str]:
    """`python -m slack_ingest ARGS`, or with a module imported first (a test hook such as
    tests.reliability.flaky_destination)."""
    if preload is None:
        return [sys.executable, "-m", "slack_ingest", *args]
    code = f"import {preload}; from slack_ingest.cli import main; main()"
    return [sys.executable, "-c", code, *args]


def run_cli(
    args: list[str],
    cwd: Path,
    env: dict[str, str],
    *,
    preload: str | None = None,
    timeout: float = 300,
) -> subprocess.CompletedProcess:
    return subprocess.run(
        cli_argv(args, preload), cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def load_args(sim: Any, db: Path, *more: str, lookback_days: str | None = "36500") -> list[str]:
    """`run` against the simulator (profile unlimited). The default lookback re-reads all
    history on every run (so deletions anywhere are seen); None keeps the CLI's default."""
    look = ["--lookback-days", lookback_days] if lookback_days is not None else []
    return [
        "run",
        "--base-url",
        sim.base_url,
        "--profile",
        "unlimited",
        "--duckdb-path",
        str(db),
        *look,
        "--quiet",
        *more,
    ]


def error_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]


def assert_one_line_failure(
    proc: subprocess.CompletedProcess, code: int, *needles: str, secrets: tuple[str, ...] = ()
) -> str:
    """Exit `code`, exactly one non-empty stderr line starting with `error:` that contains
    every needle, no traceback anywhere, no secret anywhere."""
    both = proc.stdout + proc.stderr
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-4000:])
    assert "Traceback" not in both, proc.stderr[-4000:]
    lines = error_lines(proc)
    assert len(lines) == 1, proc.stderr[-4000:]
    assert lines[0].startswith("error:"), lines
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    for secret in secrets:
        assert secret not in both
    return lines[0]


def assert_exact(target: Target, truth: Any) -> dict[str, Any]:
    """Destination == truth, and no duplicate keys in any table, deleted rows included."""
    check = assert_matches_truth(target, truth)
    ds = target.dataset
    for table, key in (
        ("messages", "channel_id, ts"),
        ("channels", "id"),
        ("users", "id"),
        ("channel_members", "channel_id, user_id"),
    ):
        total, distinct = query(
            target, f"select count(*), count(distinct ({key})) from {ds}.{table}"
        )[0]
        assert total == distinct, f"{table}: {total - distinct} duplicate rows"
    return check


def file_digest(path: Path) -> str | None:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under root (what a failed run must not touch)."""
    if not root.exists():
        return {}
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def requests_total(sim: Any) -> int:
    return int(sim.stats()["totals"]["requests"])


def wait_for(predicate: Any, timeout: float, interval: float = 0.01) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


# Small slices and frequent checkpoints, so interruptions land between committed slices.
SLICED = {
    "SOURCES__SLACK__SLICE_ROWS": "1500",
    "SOURCES__SLACK__MAX_CONCURRENT_CHANNELS": "4",
    "SOURCES__SLACK__CHECKPOINT_PAGES": "2",
    # history pages of 200 (the default is 999): many checkpoints in a small workspace
    "SOURCES__SLACK__LIMITS": '{"conversations.history": {"page_size": 200}}',
}


def message_count(db: Path) -> int:
    """Rows in a DuckDB file's messages table (0 before the file or the table exists)."""
    from ingest.load.run import Target
    from tests.integration.helpers import query

    if not db.exists():
        return 0
    try:
        return int(query(Target(duckdb_path=str(db)), "select count(*) from slack.messages")[0][0])
    except Exception:  # noqa: BLE001 - no messages table yet
        return 0
