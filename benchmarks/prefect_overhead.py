"""`prefect_overhead`: wall time of the Prefect flow vs the same load without Prefect.

Both load the simulator's `small` workspace (profile `internal`, time scale 60, the
simulator in its own process) into a fresh DuckDB file, side by side in this process:

- `cli_wall_s`: what `slack-ingest run` does (`ingest.pipeline.run_load`, one pipeline);
- `flow_wall_s`: `flows.pipeline.slack_pipeline` with 4 shards (max concurrency 4) against
  a Prefect server already running (a temporary local one, SQLite, started before timing:
  `server_start_s`), i.e. planning, metadata, users and 4 history shards as Prefect tasks,
  the concurrency limits, the budget lease, artifacts and the summary.

`overhead_ratio` = flow / cli (medians over `reps`). Both results are checked against the
simulator's truth; Slack's rate budget bounds both (see `lower_bound_s`), so the ratio
shows what orchestration adds on top of the budget-bound load.
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from benchmarks.common import QUIET_ENV, lower_bound, method_requests, ratio, reset_client_buckets
from benchmarks.simproc import SimProcess

SIZE, SEED, PROFILE, TIME_SCALE = "small", 0, "internal", 60.0
SHARDS = 4


def _target(workdir: Path, name: str) -> Any:
    from ingest.pipeline import Target

    return Target(duckdb_path=str(workdir / f"{name}.duckdb"), dataset="slack",
                  pipelines_dir=str(workdir / f"{name}-pipelines"))


def _exact(target: Any, truth: Any) -> bool:
    from ingest.verify import compare_with_truth

    return bool(compare_with_truth(target, truth)["ok"])


def _cli_once(workdir: Path, name: str, truth: Any) -> dict[str, Any]:
    from ingest.pipeline import run_load
    from ingest.source import LoadSettings

    reset_client_buckets()
    with SimProcess(SIZE, seed=SEED, profile=PROFILE, time_scale=TIME_SCALE) as sim:
        target = _target(workdir, name)
        settings = LoadSettings(base_url=sim.base_url, profile=PROFILE, time_scale=TIME_SCALE,
                                lookback_days=36500.0).validate()
        t0 = time.perf_counter()
        run_load(sim.token, settings, target)
        wall = time.perf_counter() - t0
        stats = sim.stats()
    return {"wall_s": wall, "exact": _exact(target, truth), "stats": stats}


class _Count503(logging.Handler):
    """Counts the Prefect API's 503 answers (SQLite `database is locked`; the client
    retries each after ~2 s)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.n = 0

    def emit(self, record: logging.LogRecord) -> None:
        if "503 Service Unavailable" in record.getMessage():
            self.n += 1


@contextmanager
def _counting_503() -> Iterator[_Count503]:
    log = logging.getLogger("httpx")
    counter = _Count503()
    saved = log.level, log.propagate
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(counter)
    try:
        yield counter
    finally:
        log.removeHandler(counter)
        log.setLevel(saved[0])
        log.propagate = saved[1]


def _flow_once(workdir: Path, name: str, truth: Any) -> dict[str, Any]:
    from flows.pipeline import slack_pipeline
    from flows.secrets import set_explicit_token

    reset_client_buckets()
    with SimProcess(SIZE, seed=SEED, profile=PROFILE, time_scale=TIME_SCALE) as sim:
        target = _target(workdir, name)
        set_explicit_token(sim.token)
        try:
            with _counting_503() as n503:
                t0 = time.perf_counter()
                summary = slack_pipeline(
                    base_url=sim.base_url, profile=PROFILE, time_scale=TIME_SCALE,
                    duckdb_path=target.duckdb_path, dataset=target.dataset,
                    pipelines_dir=target.pipelines_dir, lookback_days=36500.0,
                    shards=SHARDS, max_concurrency=SHARDS)
                wall = time.perf_counter() - t0
        finally:
            set_explicit_token(None)
        stats = sim.stats()
    return {"wall_s": wall, "exact": _exact(target, truth), "stats": stats,
            "flow_reported_wall_s": summary.get("wall_s"), "api_503": n503.n}


def run(quick: bool = False) -> dict[str, Any]:
    for key, value in {**QUIET_ENV, "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
        os.environ.setdefault(key, value)
    from prefect.testing.utilities import prefect_test_harness

    from ingest.simulator import Workspace

    reps = 1 if quick else 3
    truth = Workspace.generate(size=SIZE, seed=SEED).truth()
    cli: list[dict[str, Any]] = []
    flow: list[dict[str, Any]] = []
    t_server = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-prefect-") as tmp, prefect_test_harness(
            server_startup_timeout=120):
        server_start_s = time.perf_counter() - t_server
        workdir = Path(tmp)
        for i in range(reps):  # alternate, so drift on the machine hits both alike
            cli.append(_cli_once(workdir, f"cli{i}", truth))
            flow.append(_flow_once(workdir, f"flow{i}", truth))
    cli_wall = statistics.median(r["wall_s"] for r in cli)
    flow_wall = statistics.median(r["wall_s"] for r in flow)
    requests = method_requests(cli[0]["stats"])
    return {
        "size": SIZE, "profile": PROFILE, "time_scale": TIME_SCALE, "shards": SHARDS,
        "reps": reps, "messages": len(truth.messages),
        "cli_wall_s": round(cli_wall, 3),
        "flow_wall_s": round(flow_wall, 3),
        "overhead_ratio": ratio(flow_wall, cli_wall),
        "overhead_s": round(flow_wall - cli_wall, 3),
        "server_start_s": round(server_start_s, 2),
        "cli_runs_s": [round(r["wall_s"], 3) for r in cli],
        "flow_runs_s": [round(r["wall_s"], 3) for r in flow],
        "exact": all(r["exact"] for r in cli + flow),
        "cli_n_429": sum(int(r["stats"]["totals"]["n_429"]) for r in cli),
        "flow_n_429": sum(int(r["stats"]["totals"]["n_429"]) for r in flow),
        "flow_api_503_retries": [r["api_503"] for r in flow],
        **lower_bound(requests, PROFILE, TIME_SCALE),
        "note": "Prefect server: temporary local (SQLite), its start excluded (server_start_s); "
                "each API 503 (SQLite 'database is locked') costs ~2 s of client retry",
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one repetition instead of three")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick), indent=2))
