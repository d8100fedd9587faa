"""The distributed path end to end on loopback: `prefect server start` (SQLite), a process
work pool, the repository's prefect.yaml deployed, two `prefect worker` processes (shared by the tests of this module), and:

- the parent deployment run with its shards spread over both workers, all on one simulator
  token. The result matches the truth; Slack (the simulator) saw no 429 and no method above
  its budget in any Slack minute;
- an Enterprise Grid org of 8 workspaces: the nightly deployment with the org-wide token
  fans out one flow run per workspace over both workers; the dataset equals the org's truth
  with 0 429s."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from benchmarks.local_procs import _kill_group, prefect_env
from benchmarks.local_procs import free_port as _free_port
from benchmarks.local_procs import start as _start
from benchmarks.local_procs import stop as _stop
from benchmarks.local_procs import tail as _tail
from benchmarks.local_procs import wait_healthy as _wait_healthy
from ingest.load.run import Target
from ingest.simulator import METHOD_TIERS, TIER_RATES, Org, SimulatorThread, Workspace
from tests.integration.helpers import assert_matches_truth, query
from tests.reliability.support import assert_exact

REPO = Path(__file__).resolve().parents[2]
PREFECT = str(Path(sys.executable).parent / "prefect")
POOL = "slack-ingest-pool"
DEADLINE_S = 170.0


def _run(args: list[str], env: dict[str, str]) -> None:
    proc = subprocess.run(args, env=env, cwd=REPO, capture_output=True, text=True, timeout=90)
    assert proc.returncode == 0, f"{' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"


def _shard_results(flow_run_id: Any) -> list[dict[str, Any]]:
    """What each shard run published (flows.pipeline.publish_shard_result)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import (
        ArtifactFilter,
        ArtifactFilterFlowRunId,
        FlowRunFilter,
        FlowRunFilterParentFlowRunId,
    )

    from flows.pipeline import SHARD_RESULT_MARK

    with get_client(sync_client=True) as client:
        children = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(
                parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[flow_run_id])
            )
        )
        arts = client.read_artifacts(
            artifact_filter=ArtifactFilter(
                flow_run_id=ArtifactFilterFlowRunId(any_=[c.id for c in children])
            )
        )
    out = []
    for a in arts:
        if (a.description or "").startswith(SHARD_RESULT_MARK):
            data = json.loads(a.data) if isinstance(a.data, str) else a.data
            out.append(json.loads(data[0]["result_json"]))
    return out


@dataclass
class Stack:
    """A Prefect server, the repository's prefect.yaml deployed, two process workers."""

    api: str
    env: dict[str, str]
    logs: dict[str, Path]
    workers: dict[str, int]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp_path = tmp_path_factory.mktemp("prefect-stack")
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = prefect_env(tmp_path / "prefect-home", api, PREFECT_WORKER_QUERY_SECONDS="1")
    procs: list[subprocess.Popen[bytes]] = []
    logs = {name: tmp_path / f"{name}.log" for name in ("server", "w1", "w2")}
    try:
        procs.append(
            _start(
                [PREFECT, "server", "start", "--host", "127.0.0.1", "--port", str(port)],
                env,
                logs["server"],
            )
        )
        _wait_healthy(api, 90)
        _run([PREFECT, "work-pool", "create", POOL, "--type", "process"], env)
        _run([PREFECT, "--no-prompt", "deploy", "--all"], env)
        # every deployment of prefect.yaml deploys; the listener's 5-minute schedule
        # would put a listener (no app token here) on these workers: not these tests'
        _run([PREFECT, "deployment", "delete", "slack_listener/slack-listener"], env)
        for name in ("w1", "w2"):
            procs.append(
                _start(
                    [
                        PREFECT,
                        "worker",
                        "start",
                        "--pool",
                        POOL,
                        "--type",
                        "process",
                        "--name",
                        name,
                        "--limit",
                        "2",
                    ],
                    env,
                    logs[name],
                )
            )
        yield Stack(api, env, logs, {"w1": procs[1].pid, "w2": procs[2].pid})
    finally:
        for proc in reversed(procs[1:]):  # the workers: their runs are over, no need to wait
            _kill_group(proc)
            proc.wait(timeout=10)
        for proc in procs[:1]:
            _stop(proc)


def _run_parent(stack: Stack, token: str, parameters: dict[str, Any], started: float) -> Any:
    """Run prefect.yaml's nightly deployment with `parameters` on the workers; its final
    flow run (asserted Completed)."""
    from prefect.blocks.system import Secret
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment
    from prefect.settings import PREFECT_API_URL, temporary_settings

    logs = stack.logs
    with temporary_settings(updates={PREFECT_API_URL: stack.api}):
        Secret(value=token).save("slack-token", overwrite=True)
        parent = run_deployment(
            "slack_pipeline/slack-pipeline", timeout=0, as_subflow=False, parameters=parameters
        )
        with get_client(sync_client=True) as client:
            while True:
                fr = client.read_flow_run(parent.id)
                if fr.state is not None and fr.state.is_final():
                    break
                assert time.monotonic() - started < DEADLINE_S, (
                    f"parent run still {fr.state.name if fr.state else '?'}\n"
                    f"w1:\n{_tail(logs['w1'])}\nw2:\n{_tail(logs['w2'])}"
                )
                time.sleep(1)
    assert fr.state.is_completed(), (
        f"{fr.state.name}: {fr.state.message}\nw1:\n{_tail(logs['w1'])}\nw2:\n{_tail(logs['w2'])}"
    )
    return fr


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_shards_spread_over_two_workers_share_one_budget(stack, tmp_path):
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = time.monotonic()
    ws = Workspace.generate(size="small", seed=61)
    target = Target(
        duckdb_path=str(tmp_path / "warehouse.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    workers = stack.workers
    with SimulatorThread(ws, profile="internal", time_scale=60.0) as sim:
        parent = _run_parent(
            stack,
            ws.token,
            {
                "base_url": sim.base_url,
                "profile": "internal",
                "time_scale": 60.0,
                "duckdb_path": target.duckdb_path,
                "pipelines_dir": target.pipelines_dir,
                "lookback_days": 36500.0,
                "retry_backoff_s": 1.0,
                # opt-in: shards as flow runs that any worker picks up
                "shard_deployment": "slack_shard/slack-shard",
            },
            started,
        )
        with temporary_settings(updates={PREFECT_API_URL: stack.api}):
            shards = _shard_results(parent.id)
        stats = sim.stats()

    assert_matches_truth(target, ws.truth())
    assert len(shards) == 4
    assert sorted(c for s in shards for c in s["channels"]) == sorted(
        ws.truth().readable_channel_ids
    )
    ran_on = {name for s in shards for name, pid in workers.items() if pid in s["ancestors"]}
    assert ran_on == {"w1", "w2"}, f"shards ran under {ran_on}"
    # one token, one budget: nothing refused, no method over its budget in any Slack minute
    assert stats["totals"]["n_429"] == 0, stats["methods"]
    for method, seen in stats["max_window"].items():
        rate, burst = TIER_RATES[METHOD_TIERS[method]]
        assert seen <= rate + burst, f"{method}: {seen} requests in one Slack minute"
    print(
        json.dumps(
            {
                "elapsed_s": round(time.monotonic() - started, 1),
                "n_429": stats["totals"]["n_429"],
                "max_window": stats["max_window"],
                "shards": [
                    (s["label"], s["ancestors"][:2], s["started_at"], s["ended_at"]) for s in shards
                ],
                "workers": workers,
            }
        )
    )
    assert time.monotonic() - started < DEADLINE_S + 10


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_org_workspaces_fan_out_over_two_workers(stack, tmp_path):
    """One flow run per workspace (prefect.yaml's `slack-workspace`), on both workers."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterParentFlowRunId
    from prefect.settings import PREFECT_API_URL, temporary_settings

    started = time.monotonic()
    org = Org.generate(8, seed=17, sizes=("tiny",))
    target = Target(
        duckdb_path=str(tmp_path / "org.duckdb"), pipelines_dir=str(tmp_path / "pipelines")
    )
    with SimulatorThread(org, profile="internal", time_scale=60.0) as sim:
        parent = _run_parent(
            stack,
            org.token,
            {
                "base_url": sim.base_url,
                "profile": "internal",
                "time_scale": 60.0,
                "duckdb_path": target.duckdb_path,
                "pipelines_dir": target.pipelines_dir,
                "lookback_days": 36500.0,
                "retry_backoff_s": 1.0,
                "shards": 1,
                "workspace_deployment": "slack_pipeline/slack-workspace",
            },
            started,
        )
        stats = sim.stats()
    with temporary_settings(updates={PREFECT_API_URL: stack.api}):
        with get_client(sync_client=True) as client:
            children = client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    parent_flow_run_id=FlowRunFilterParentFlowRunId(any_=[parent.id])
                )
            )
    workspaces = [c for c in children if c.name.startswith("workspace ")]
    assert sorted(c.name for c in workspaces) == sorted(f"workspace {t}" for t in org.team_ids)
    assert all(c.state is not None and c.state.is_completed() for c in workspaces)
    # each worker's log names the flow runs it started: both took workspaces
    took = {
        name: [c.name for c in workspaces if str(c.id) in stack.logs[name].read_text()]
        for name in ("w1", "w2")
    }
    assert took["w1"] and took["w2"], took
    assert_exact(target, org.truth())
    channels = dict(query(target, "select id, team_id from slack.channels"))
    assert channels == org.truth().channel_team  # shared channels once, by their host
    assert stats["totals"]["n_429"] == 0, stats["methods"]
    print(json.dumps({"elapsed_s": round(time.monotonic() - started, 1), "took": took}))
