"""The progress artifact is updated while shards run, from the board's own thread. That
thread must carry the flow's Prefect settings: a caller that points Prefect at its server
with `temporary_settings` (a context variable, as the benchmarks do) saw every update go to
another API and fail with HTTP 404, until the final one from the flow's thread."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PROBE = r"""
import json, sys, time
from prefect import flow
from prefect.client.orchestration import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterId
from prefect.settings import PREFECT_API_URL, temporary_settings
from flows.progress import ProgressBoard

@flow(name="progress-board-probe")
def probe():
    seen = []
    with ProgressBoard("probe", 4, artifact_key="slack-ingest-progress-probe",
                       interval_s=0.2) as board:
        board.finished("shard0", 2)  # half of the channels done
        deadline = time.monotonic() + 15
        with get_client(sync_client=True) as client:
            while time.monotonic() < deadline:
                art = client.read_artifacts(artifact_filter=ArtifactFilter(
                    id=ArtifactFilterId(any_=[board.artifact_id])))[0]
                seen.append(float(art.data))
                if seen[-1] == 50.0:
                    break
                time.sleep(0.2)
    return seen

with temporary_settings(updates={PREFECT_API_URL: sys.argv[1]}):
    print(json.dumps(probe()))
"""


def test_progress_updates_reach_the_server_while_the_run_goes_on(tmp_path):
    from prefect.settings import PREFECT_API_URL

    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    env.update(
        {
            "PREFECT_HOME": str(tmp_path / "prefect-home"),
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(PREFECT_API_URL.value())],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    seen = json.loads(proc.stdout.strip().splitlines()[-1])
    assert seen and seen[-1] == 50.0, f"the artifact never showed 50% while running: {seen}"
    assert "could not update the progress artifact" not in proc.stderr
