"""The nightly fires: Prefect's scheduler (not a manual trigger) starts runs of a served
flow and of a deployment run by a worker, and both load exactly.

A real `prefect server start` (SQLite) on a free loopback port; `slack-ingest flow serve
--cron "* * * * *"` as a process; the repository's prefect.yaml deployed with a cron that
comes due within a minute, run by `prefect worker start --pool slack-ingest-pool --limit 2`
(the README's flags). Both wait for the scheduler service of the server: with SQLAlchemy
2.1 it fails every loop ("Can't evaluate bulk DML statement") and no run is ever created,
so this test fails (pyproject.toml pins SQLAlchemy below 2.1).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.local_procs import free_port as _free_port
from benchmarks.local_procs import prefect_env
from benchmarks.local_procs import start as _start
from benchmarks.local_procs import stop as _stop
from benchmarks.local_procs import tail as _tail
from benchmarks.local_procs import wait_healthy as _wait_healthy
from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.flows.helpers import max_overlap
from tests.flows.test_flow_distributed import POOL, PREFECT, _run
from tests.integration.helpers import assert_matches_truth

SLACK_INGEST = str(Path(sys.executable).parent / "slack-ingest")
EVERY_MINUTE = "* * * * *"
#: the next minute boundary, the runs themselves, and a loaded 2-core machine
WAIT_S = 150.0


def _deployment(client: Any, name: str) -> Any:
    return client.read_deployment_by_name(name)


def _wait_for_deployment(client: Any, name: str, proc: subprocess.Popen[bytes], log: Path) -> Any:
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            return _deployment(client, name)
        except Exception:  # noqa: BLE001 - not registered yet
            assert proc.poll() is None, f"{name}: process exited\n{_tail(log)}"
            time.sleep(0.5)
    raise AssertionError(f"deployment {name} not registered within 60 s\n{_tail(log)}")


def _scheduled_run_done(client: Any, deployment_id: Any) -> Any | None:
    """The first run of the deployment once it is final (None while none is)."""
    from prefect.client.schemas.filters import DeploymentFilter, DeploymentFilterId
    from prefect.client.schemas.sorting import FlowRunSort

    runs = client.read_flow_runs(
        deployment_filter=DeploymentFilter(id=DeploymentFilterId(any_=[deployment_id])),
        sort=FlowRunSort.EXPECTED_START_TIME_ASC,
        limit=5,
    )
    final = [r for r in runs if r.state is not None and r.state.is_final()]
    return final[0] if final else None


def _history_task_runs(client: Any, flow_run_id: Any) -> list[Any]:
    """The run's shard task runs once their end times are recorded (events lag a little);
    there are no child flow runs (the deployment runs its shards in-process)."""
    from prefect.client.schemas.filters import (
        FlowRunFilter,
        FlowRunFilterId,
        FlowRunFilterParentFlowRunId,
    )

    children = client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
        )
    )
    assert children == [], [c.name for c in children]
    end = time.monotonic() + 20
    while True:
        runs = [
            t
            for t in client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id]))
            )
            if t.name.startswith("history shard")
        ]
        if (runs and all(t.start_time and t.end_time for t in runs)) or time.monotonic() > end:
            return runs
        time.sleep(0.5)


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_scheduler_starts_served_and_worker_runs_that_load_exactly(tmp_path):
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = time.monotonic()
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(
        tmp_path / "prefect-home",
        api,
        PREFECT_WORKER_QUERY_SECONDS="1",
        PREFECT_RUNNER_POLL_FREQUENCY="1",
        DLT_DATA_DIR=str(tmp_path / "dlt"),
    )
    ws = Workspace.generate(size="tiny", seed=71)
    served = Target(duckdb_path=str(tmp_path / "served.duckdb"))
    worked = Target(
        duckdb_path=str(tmp_path / "worked.duckdb"),
        pipelines_dir=str(tmp_path / "worked-pipelines"),
    )
    logs = {name: tmp_path / f"{name}.log" for name in ("server", "serve", "worker")}
    procs: dict[str, subprocess.Popen[bytes]] = {}
    done: dict[str, Any] = {}
    try:
        with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
            procs["server"] = _start(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env,
                logs["server"],
            )
            _wait_healthy(api, 90)
            with temporary_settings(updates={PREFECT_API_URL: api}):
                Secret(value=ws.token).save("slack-token", overwrite=True)
            # 1. `slack-ingest flow serve` with a schedule due within a minute
            procs["serve"] = _start(
                [
                    SLACK_INGEST,
                    "flow",
                    "serve",
                    "--cron",
                    EVERY_MINUTE,
                    "--name",
                    "every-minute",
                    "--base-url",
                    sim.base_url,
                    "--duckdb-path",
                    served.duckdb_path,
                    "--profile",
                    "internal",
                    "--time-scale",
                    "60",
                    "--lookback-days",
                    "36500",
                    "--shards",
                    "2",
                    "--max-concurrency",
                    "2",
                ],
                env,
                logs["serve"],
            )
            # 2. the repository's prefect.yaml through a process pool and the README's worker
            _run([PREFECT, "work-pool", "create", POOL, "--type", "process"], env)
            _run(
                [
                    PREFECT,
                    "--no-prompt",
                    "deploy",
                    "--name",
                    "slack-pipeline",
                    "--cron",
                    EVERY_MINUTE,
                    "--params",
                    json.dumps(
                        {
                            "base_url": sim.base_url,
                            "profile": "internal",
                            "time_scale": 60.0,
                            "duckdb_path": worked.duckdb_path,
                            "pipelines_dir": worked.pipelines_dir,
                            "lookback_days": 36500.0,
                            "retry_backoff_s": 1.0,
                        }
                    ),
                ],
                env,
            )
            procs["worker"] = _start(
                [PREFECT, "worker", "start", "--pool", POOL, "--limit", "2"], env, logs["worker"]
            )
            with (
                temporary_settings(updates={PREFECT_API_URL: api}),
                get_client(sync_client=True) as client,
            ):
                deployments = {
                    "serve": _wait_for_deployment(
                        client, "slack_pipeline/every-minute", procs["serve"], logs["serve"]
                    ),
                    "worker": _deployment(client, "slack_pipeline/slack-pipeline"),
                }
                for d in deployments.values():  # (prefect.yaml's nightly stays beside it)
                    assert EVERY_MINUTE in [s.schedule.cron for s in d.schedules]
                    assert ws.token not in json.dumps(d.parameters)
                # nobody triggers a run: only the server's scheduler can create one
                while len(done) < 2:
                    for name, d in deployments.items():
                        if name not in done and (fr := _scheduled_run_done(client, d.id)):
                            done[name] = fr
                            _stop(procs.pop(name))  # no next-minute run over the check
                    waited = time.monotonic() - started
                    assert waited < WAIT_S, (
                        f"no scheduled run finished in {waited:.0f} s for "
                        f"{sorted(set(deployments) - set(done))}; server:\n"
                        f"{_tail(logs['server'], 15)}"
                    )
                    time.sleep(1)
                shards = _history_task_runs(client, done["worker"].id)
    finally:
        for proc in reversed(list(procs.values())):
            _stop(proc)

    for name, fr in done.items():
        assert fr.auto_scheduled, f"{name}: run {fr.name} was not created by the scheduler"
        assert fr.state.is_completed(), (
            f"{name}: {fr.state.name}: {fr.state.message}\n{_tail(logs[name])}"
        )
    assert_matches_truth(served, ws.truth())
    assert_matches_truth(worked, ws.truth())
    for name, log in logs.items():  # the token stays in the Secret block
        assert ws.token not in log.read_text(errors="replace"), name
    # through the worker (one slot of `--limit 2`) the shards ran in parallel, as tasks of
    # the deployment's own flow run: no shard flow runs queued behind the parent
    assert len(shards) >= 2, shards
    assert max_overlap([(t.start_time.timestamp(), t.end_time.timestamp()) for t in shards]) >= 2, [
        (t.name, t.start_time, t.end_time) for t in shards
    ]
    print(
        json.dumps(
            {
                "elapsed_s": round(time.monotonic() - started, 1),
                "runs": {n: [fr.name, str(fr.expected_start_time)] for n, fr in done.items()},
            }
        )
    )
