"""`prefect_overhead`: wall time of the Prefect flow vs the same load without Prefect, and
of the deployment run by a worker vs the flow run in-process.

Every run loads the simulator's workspace (`medium`; `--quick`: `small`; profile
`internal`, time scale 60, a fresh simulator in its own process per run) into a fresh
DuckDB file, side by side in one process run:

- `cli_wall_s`: what `slack-ingest run` does (`ingest.load.run.run_load`, one pipeline);
- `flow_wall_s`: `flows.pipeline.slack_pipeline` in this process with 4 shards (max
  concurrency 4): planning, metadata, users and 4 history shards as Prefect tasks, the
  budget lease, the DuckDB writer lock, artifacts and the summary;
- `worker_wall_s`: the same 4-shard load as the prefect.yaml deployment
  `slack_pipeline/slack-pipeline`, run by `prefect worker start --pool slack-ingest-pool
  --limit 2` (the README's command, default polling), from `run_deployment` to the run's
  final state (worker pickup and process start included; `worker_flow_run_s` is the run's
  own start-to-end).

All against one `prefect server start` (SQLite) on a free loopback port, started before
timing (`server_start_s`, reported apart). `overhead_ratio` = flow / cli and
`worker_ratio` = worker / flow (medians over `reps`). Every result is checked against the
simulator's truth; Slack's rate budget bounds all of them (`lower_bound_s`).
"""

from __future__ import annotations

import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

from benchmarks import local_procs
from benchmarks.common import QUIET_ENV, lower_bound, method_requests, ratio, reset_client_buckets
from benchmarks.simproc import SimProcess

SEED, PROFILE, TIME_SCALE = 0, "internal", 60.0
SIZE, QUICK_SIZE = "medium", "small"
SHARDS = 4
REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
POOL = "slack-ingest-pool"


def _target(workdir: Path, name: str) -> Any:
    from ingest.load.run import Target

    return Target(
        duckdb_path=str(workdir / f"{name}.duckdb"),
        dataset="slack",
        pipelines_dir=str(workdir / f"{name}-pipelines"),
    )


def _exact(target: Any, truth: Any) -> bool:
    from ingest.load.verify import compare_with_truth

    return bool(compare_with_truth(target, truth)["ok"])


def _cli_once(workdir: Path, name: str, truth: Any, size: str) -> dict[str, Any]:
    from ingest.load.run import run_load
    from ingest.source import LoadSettings

    reset_client_buckets()
    with SimProcess(size, seed=SEED, profile=PROFILE, time_scale=TIME_SCALE) as sim:
        target = _target(workdir, name)
        settings = LoadSettings(
            base_url=sim.base_url, profile=PROFILE, time_scale=TIME_SCALE, lookback_days=36500.0
        ).validate()
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


def _flow_once(workdir: Path, name: str, truth: Any, size: str) -> dict[str, Any]:
    from flows.pipeline import slack_pipeline
    from flows.secrets import set_explicit_token

    reset_client_buckets()
    with SimProcess(size, seed=SEED, profile=PROFILE, time_scale=TIME_SCALE) as sim:
        target = _target(workdir, name)
        set_explicit_token(sim.token)
        try:
            with _counting_503() as n503:
                t0 = time.perf_counter()
                summary = slack_pipeline(
                    base_url=sim.base_url,
                    profile=PROFILE,
                    time_scale=TIME_SCALE,
                    duckdb_path=target.duckdb_path,
                    dataset=target.dataset,
                    pipelines_dir=target.pipelines_dir,
                    lookback_days=36500.0,
                    shards=SHARDS,
                    max_concurrency=SHARDS,
                )
                wall = time.perf_counter() - t0
        finally:
            set_explicit_token(None)
        stats = sim.stats()
    return {
        "wall_s": wall,
        "exact": _exact(target, truth),
        "stats": stats,
        "flow_reported_wall_s": summary.get("wall_s"),
        "api_503": n503.n,
        "phases_s": summary.get("phases_s"),
    }


@contextmanager
def _prefect_stack(workdir: Path) -> Iterator[dict[str, Any]]:
    """`prefect server start` on a free loopback port (timed apart), the process pool,
    prefect.yaml's `slack-pipeline` deployed, and the README's worker."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    api = f"http://127.0.0.1:{local_procs.free_port()}/api"
    env = local_procs.prefect_env(workdir / "prefect-home", api, PREFECT_LOGGING_LEVEL="WARNING")
    procs: list[subprocess.Popen[bytes]] = []

    def start(args: list[str], log: str) -> subprocess.Popen[bytes]:
        procs.append(local_procs.start(args, env, workdir / log))
        return procs[-1]

    def run(args: list[str]) -> None:
        subprocess.run(args, env=env, cwd=REPO, check=True, capture_output=True, timeout=120)

    try:
        t0 = time.perf_counter()
        start(
            [
                str(BIN / "prefect"),
                "server",
                "start",
                "--host",
                "127.0.0.1",
                "--port",
                api.rsplit(":", 1)[1].split("/")[0],
            ],
            "server.log",
        )
        local_procs.wait_healthy(api, 120)
        server_start_s = time.perf_counter() - t0
        run([str(BIN / "prefect"), "work-pool", "create", POOL, "--type", "process"])
        run([str(BIN / "prefect"), "--no-prompt", "deploy", "--name", "slack-pipeline"])
        start(
            [str(BIN / "prefect"), "worker", "start", "--pool", POOL, "--limit", "2"], "worker.log"
        )
        with temporary_settings(updates={PREFECT_API_URL: api}):
            yield {"api": api, "server_start_s": server_start_s}
    finally:
        for proc in reversed(procs):
            local_procs.stop(proc)


def _worker_once(workdir: Path, name: str, truth: Any, size: str) -> dict[str, Any]:
    """The prefect.yaml deployment (4 shards) run by the worker, on a fresh simulator."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.objects import FlowRun
    from prefect.deployments import run_deployment

    with SimProcess(size, seed=SEED, profile=PROFILE, time_scale=TIME_SCALE) as sim:
        target = _target(workdir, name)
        # prefect's documented use; its validator wraps the str (its annotation says otherwise)
        Secret(value=sim.token).save("slack-token", overwrite=True)  # type: ignore[arg-type]
        t0 = time.perf_counter()
        fr = cast(
            FlowRun,
            run_deployment(  # sync_compatible: a FlowRun when called sync
                "slack_pipeline/slack-pipeline",
                timeout=0,
                as_subflow=False,
                parameters={
                    "base_url": sim.base_url,
                    "profile": PROFILE,
                    "time_scale": TIME_SCALE,
                    "duckdb_path": target.duckdb_path,
                    "dataset": target.dataset,
                    "pipelines_dir": target.pipelines_dir,
                    "lookback_days": 36500.0,
                    "shards": SHARDS,
                    "max_concurrency": SHARDS,
                },
            ),
        )
        with get_client(sync_client=True) as client:
            while True:
                fr = client.read_flow_run(fr.id)
                if fr.state is not None and fr.state.is_final():
                    break
                time.sleep(0.2)
        wall = time.perf_counter() - t0
        stats = sim.stats()
    run_s = (fr.end_time - fr.start_time).total_seconds() if fr.end_time and fr.start_time else None
    return {
        "wall_s": wall,
        "exact": fr.state.is_completed() and _exact(target, truth),
        "stats": stats,
        "state": fr.state.name,
        "flow_run_s": run_s,
    }


def run(quick: bool = False) -> dict[str, Any]:
    for key, value in {**QUIET_ENV, "PREFECT_LOGGING_LEVEL": "WARNING"}.items():
        os.environ.setdefault(key, value)
    from ingest.simulator import Workspace

    size = QUICK_SIZE if quick else SIZE
    reps = 1
    truth = Workspace.generate(size=size, seed=SEED).truth()
    cli: list[dict[str, Any]] = []
    flow: list[dict[str, Any]] = []
    worker: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench-prefect-") as tmp,
        _prefect_stack(Path(tmp)) as stack,
    ):
        workdir = Path(tmp)
        for i in range(reps):  # alternate, so drift on the machine hits all alike
            cli.append(_cli_once(workdir, f"cli{i}", truth, size))
            flow.append(_flow_once(workdir, f"flow{i}", truth, size))
            worker.append(_worker_once(workdir, f"worker{i}", truth, size))
    cli_wall = statistics.median(r["wall_s"] for r in cli)
    flow_wall = statistics.median(r["wall_s"] for r in flow)
    worker_wall = statistics.median(r["wall_s"] for r in worker)
    requests = method_requests(cli[0]["stats"])
    return {
        "size": size,
        "profile": PROFILE,
        "time_scale": TIME_SCALE,
        "shards": SHARDS,
        "reps": reps,
        "messages": len(truth.messages),
        "cli_wall_s": round(cli_wall, 3),
        "flow_wall_s": round(flow_wall, 3),
        "worker_wall_s": round(worker_wall, 3),
        "overhead_ratio": ratio(flow_wall, cli_wall),
        "overhead_s": round(flow_wall - cli_wall, 3),
        "worker_ratio": ratio(worker_wall, flow_wall),
        "worker_flow_run_s": [r["flow_run_s"] for r in worker],
        "server_start_s": round(stack["server_start_s"], 2),
        "cli_runs_s": [round(r["wall_s"], 3) for r in cli],
        "flow_runs_s": [round(r["wall_s"], 3) for r in flow],
        "worker_runs_s": [round(r["wall_s"], 3) for r in worker],
        "exact": all(r["exact"] for r in cli + flow + worker),
        "cli_n_429": sum(int(r["stats"]["totals"]["n_429"]) for r in cli),
        "flow_n_429": sum(int(r["stats"]["totals"]["n_429"]) for r in flow),
        "worker_n_429": sum(int(r["stats"]["totals"]["n_429"]) for r in worker),
        "flow_api_503_retries": [r["api_503"] for r in flow],
        "flow_reported_wall_s": [r["flow_reported_wall_s"] for r in flow],
        "flow_phases_s": [r["phases_s"] for r in flow],
        **lower_bound(requests, PROFILE, TIME_SCALE),
        "note": "`prefect server start` (SQLite) on loopback, its start-up apart "
        "(server_start_s); worker: prefect.yaml's slack-pipeline by `prefect worker "
        "start --pool slack-ingest-pool --limit 2` (default 10 s polling)",
    }


if __name__ == "__main__":
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="`small` instead of `medium`")
    args = parser.parse_args()
    print(json.dumps(run(quick=args.quick), indent=2))
