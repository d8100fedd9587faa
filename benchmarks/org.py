"""`org`: an Enterprise Grid org loaded at once against its largest workspace alone.

Slack's budgets are per workspace, so the workspaces of an org can load side by side: the
whole org should take about as long as its largest workspace alone (goal <= 1.3x). Both are
measured in the same run, each against a fresh simulator (its own process, profile
`internal`, time-scaled) and fresh client budgets:

1. the largest workspace alone: the org-wide token with `--team` (`run_load`);
2. the whole org at once (`ingest.load.org.run_org`, what `slack-ingest run` does).

Reported: both walls and their ratio, 429s, exactness of the org load against the org's
truth (keys, no duplicates), and per workspace its requests per method against its floor
(the shortest wall those requests allow at its own budget: `lower_bound`) and the wall of
its own load inside the org run.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import lower_bound, method_requests, ratio, reset_client_buckets
from benchmarks.simproc import SimProcess

SEED = 3
PROFILE = "internal"
TIME_SCALE = 60.0
#: quick: 4 workspaces; full: the simulator's default org of 8 (3 small, 5 tiny)
ORGS: dict[bool, tuple[int, tuple[str, ...] | None]] = {
    False: (8, None),
    True: (4, ("small", "tiny", "tiny", "tiny")),
}


def _settings(sim: SimProcess, **kw: Any) -> Any:
    from ingest.source import LoadSettings

    return LoadSettings(
        base_url=sim.base_url,
        profile=PROFILE,
        time_scale=TIME_SCALE,
        lookback_days=36500.0,
        **kw,
    ).validate()


def _target(workdir: Path, name: str) -> Any:
    from ingest.load.run import Target

    return Target(
        duckdb_path=str(workdir / f"{name}.duckdb"),
        pipelines_dir=str(workdir / f"pipelines-{name}"),
        journal_path=str(workdir / f"{name}.journal.sqlite"),
    )


def _largest(teams: dict[str, dict[str, Any]]) -> str:
    return max(teams, key=lambda t: teams[t]["messages"])


def alone(n: int, sizes: tuple[str, ...] | None, workdir: Path) -> dict[str, Any]:
    from ingest.load.run import run_load

    reset_client_buckets()
    with SimProcess(
        "tiny", seed=SEED, profile=PROFILE, time_scale=TIME_SCALE, org=n, org_sizes=sizes
    ) as sim:
        team = _largest(sim.hello["teams"])
        started = time.perf_counter()
        run_load(sim.token, _settings(sim, team_ids=(team,)), _target(workdir, "alone"))
        wall = time.perf_counter() - started
        stats = sim.stats()
    requests = method_requests(stats["teams"][team])
    return {
        "team": team,
        "size": sim.hello["teams"][team]["size"],
        "messages": sim.hello["teams"][team]["messages"],
        "wall_s": round(wall, 3),
        "n_429": int(stats["totals"]["n_429"]),
        "requests": requests,
        **lower_bound(requests, PROFILE, TIME_SCALE),
    }


def whole(n: int, sizes: tuple[str, ...] | None, workdir: Path) -> dict[str, Any]:
    from ingest.load.org import run_org
    from ingest.load.verify import compare_with_truth
    from ingest.simulator.org import Org
    from ingest.source import discover_org

    reset_client_buckets()
    target = _target(workdir, "org")
    with SimProcess(
        "tiny", seed=SEED, profile=PROFILE, time_scale=TIME_SCALE, org=n, org_sizes=sizes
    ) as sim:
        settings = _settings(sim)
        org = discover_org(sim.token, settings)
        assert org is not None, "the org token is not an org-wide token"
        started = time.perf_counter()
        result = run_org(sim.token, settings, target, org, org.team_ids)
        wall = time.perf_counter() - started
        stats = sim.stats()
        teams = sim.hello["teams"]
    check = compare_with_truth(target, Org.generate(n, seed=SEED, sizes=sizes).truth())
    per_team: dict[str, Any] = {}
    for team, meta in sorted(teams.items()):
        requests = method_requests(stats["teams"][team])
        bound = lower_bound(requests, PROFILE, TIME_SCALE)
        own_wall = result.teams[team].elapsed_s
        per_team[team] = {
            **meta,
            "requests": requests,
            "requests_total": sum(requests.values()),
            "floor_s": bound["lower_bound_s"],
            "binding_method": bound["binding_method"],
            "wall_s": round(own_wall, 3),
            "floor_vs_wall": ratio(bound["lower_bound_s"], own_wall),
            "n_429": sum(int(r.get("n_429", 0)) for r in stats["teams"][team]["methods"].values()),
        }
    return {
        "workspaces": len(teams),
        "messages": sim.messages,
        "wall_s": round(wall, 3),
        "n_429": int(stats["totals"]["n_429"]),
        "exact": check["ok"],
        "check": check,
        "per_workspace": per_team,
    }


def run(quick: bool) -> dict[str, Any]:
    n, sizes = ORGS[quick]
    with tempfile.TemporaryDirectory(prefix="bench-org-") as tmp:
        workdir = Path(tmp)
        largest = alone(n, sizes, workdir)
        org = whole(n, sizes, workdir)
    return {
        "profile": PROFILE,
        "time_scale": TIME_SCALE,
        "largest_alone": largest,
        "org": org,
        "org_vs_largest": ratio(org["wall_s"], largest["wall_s"]),
        "goal": "org_vs_largest <= 1.3",
    }
