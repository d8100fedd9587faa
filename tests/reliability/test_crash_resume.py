"""Crash and resume: `slack-ingest run` on a `medium` workspace killed with SIGKILL at
seeded random points, then rerun to completion. The destination must equal the truth with
no duplicate, and the requests of all runs together must stay within a stated bound of
one clean run: a killed run resumes from its last committed slice, not from zero.

Kill points are fractions of the clean run's Slack requests, counted by the simulator
across all runs (re-spent requests included), so the point a run dies at does not depend
on how busy the machine is. Each point falls inside a run (the test fails if a run
finishes before its kill).
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import time

import pytest

from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import query
from tests.reliability.support import (
    assert_exact,
    cli_argv,
    cli_env,
    load_args,
    requests_total,
    run_cli,
)

TOKEN = "xoxb-5150-crash-resume"
SEED = 20240607  # kill points and workspace
SLICE_ROWS = "5000"  # medium has ~145k messages: ~30 slices
N_KILLS = 3
# The stated bound: all killed runs plus the final run spend at most this many times the
# requests of one clean run. Measured 1.38-1.51 with these 3 kills (docs/RESILIENCE.md):
# a kill loses what was fetched but not yet committed (the open channels' pages since
# their last checkpoint, the prefetch queue, the slice being loaded), 0.13-0.17 of a clean
# run each. A run that restarted from zero would cost at least 1 + the last kill point
# (1.72 here); the test checks the bound stays below that.
REQUEST_BOUND = 1.65


def kill_points(rng: random.Random, n: int) -> list[float]:
    """n sorted fractions in [0.2, 0.9], at least 0.1 apart."""
    while True:
        points = sorted(round(rng.uniform(0.2, 0.9), 3) for _ in range(n))
        if all(b - a >= 0.1 for a, b in zip(points, points[1:], strict=False)):
            return points


@pytest.fixture(scope="module")
def medium_sim():
    ws = Workspace.generate(size="medium", seed=SEED % 1000, token=TOKEN)
    with SimulatorThread(ws, profile="unlimited") as sim:
        yield sim


def _messages_loaded(db) -> int:
    target = Target(duckdb_path=str(db))
    try:
        return query(target, "select count(*) from slack.messages")[0][0]
    except Exception:  # noqa: BLE001 - no table yet: nothing committed
        return 0


def test_sigkill_at_random_points_then_resume_is_exact(medium_sim, tmp_path, record_property):
    sim = medium_sim
    env_extra = {"SOURCES__SLACK__SLICE_ROWS": SLICE_ROWS}

    # 1. a clean run: the yardstick
    clean_dir = tmp_path / "clean"
    clean_dir.mkdir()
    sim.reset_stats()
    t0 = time.monotonic()
    proc = run_cli(
        load_args(
            sim, clean_dir / "w.duckdb", "--json", str(clean_dir / "s.json"), lookback_days=None
        ),
        clean_dir,
        cli_env(TOKEN, clean_dir / "pipelines", env_extra),
        timeout=600,
    )
    clean_wall = time.monotonic() - t0
    assert proc.returncode == 0, proc.stderr[-3000:]
    clean_requests = requests_total(sim)
    n_slices = len(json.loads((clean_dir / "s.json").read_text())["load_ids"])
    assert n_slices >= 10, "the clean run should commit many slices"

    # 2. the same load, killed N_KILLS times, then run to completion
    work = tmp_path / "crash"
    work.mkdir()
    db = work / "w.duckdb"
    env = cli_env(TOKEN, work / "pipelines", env_extra)
    points = kill_points(random.Random(SEED), N_KILLS)
    assert REQUEST_BOUND < 1 + points[-1], "the bound would not catch a restart from zero"
    sim.reset_stats()
    kills = []
    for point in points:
        threshold = int(point * clean_requests)
        started = time.monotonic()
        p = subprocess.Popen(
            cli_argv(load_args(sim, db, lookback_days=None)),
            cwd=work,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        while requests_total(sim) < threshold and p.poll() is None:
            time.sleep(0.01)
        assert p.poll() is None, (
            f"run finished before its kill point {point}: {p.returncode} {p.stderr.read()}"
        )
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        assert p.returncode == -signal.SIGKILL
        kills.append(
            {
                "point": point,
                "requests_at_kill": requests_total(sim),
                "wall_s": round(time.monotonic() - started, 1),
                "messages_committed": _messages_loaded(db),
            }
        )

    proc = run_cli(
        load_args(sim, db, "--json", str(work / "s.json"), lookback_days=None),
        work,
        env,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    final_requests = requests_total(sim) - kills[-1]["requests_at_kill"]
    total = requests_total(sim)

    truth = sim.workspace.truth()
    assert_exact(Target(duckdb_path=str(db)), truth)

    ratio = total / clean_requests
    report = {
        "clean_requests": clean_requests,
        "clean_wall_s": round(clean_wall, 1),
        "clean_slices": n_slices,
        "kills": kills,
        "final_run_requests": final_requests,
        "total_requests": total,
        "ratio_to_clean": round(ratio, 3),
        "re_spent_fraction": round(ratio - 1, 3),
        "messages": len(truth.messages),
    }
    print("crash/resume:", json.dumps(report))
    record_property("crash_resume", json.dumps(report))

    # Progress survives a kill: what was committed before a kill stays committed, and
    # later kills find more of it (a resumed run does not restart from zero).
    committed = [k["messages_committed"] for k in kills]
    assert committed == sorted(committed) and committed[-1] > 0, kills
    # and the requests re-spent over all kills stay within the stated bound
    assert total <= REQUEST_BOUND * clean_requests, report
