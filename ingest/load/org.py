"""Loading every workspace of an Enterprise Grid org in one process (`slack-ingest run` with
an org-wide token).

Each workspace is its own load (`run_load` with `--team` set: `team_id` on every call, its
own per-method budgets, its own pipeline `<name>_<team>` in the same dataset), and the
workspaces run at once in threads: Slack's budgets are per workspace, so N workspaces load in
about the time of the largest. DuckDB has one writer: the loads take turns on a lock for
their load steps only (extraction and normalization overlap). A channel shared between
workspaces of the load is read by one of them (`ingest.source.org.owner_team`).
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from ingest.load.eager import import_load_modules
from ingest.load.run import LoadResult, run_load
from ingest.load.target import Target, describe_target
from ingest.source import LoadProgress, LoadSettings, Org

#: Workspaces loaded at once by one process (each has its own budgets; the bound is CPU and
#: memory: every load holds a slice of messages in memory).
MAX_PARALLEL_TEAMS = 8


class OrgProgress(LoadProgress):
    """One progress for the display and the failure line, summed over the workspaces'
    own progress objects (`team`)."""

    def __init__(self) -> None:
        super().__init__()
        self.teams: dict[str, LoadProgress] = {}

    def team(self, team_id: str) -> LoadProgress:
        with self._lock:
            return self.teams.setdefault(team_id, LoadProgress())

    def _children(self) -> list[LoadProgress]:
        with self._lock:
            return list(self.teams.values())

    def snapshot(self) -> dict[str, Any]:
        out = super().snapshot()
        for child in self._children():
            snap = child.snapshot()
            for key in ("channels_total", "channels_done", "messages", "replies"):
                out[key] += snap[key]
            out["skipped"].update(snap["skipped"])
            out["notes"].extend(snap["notes"])
            out["channels"].update(snap["channels"])
            out["channel_names"].update(snap["channel_names"])
        return out

    def client_stats(self) -> list[Any]:
        return super().client_stats() + [st for c in self._children() for st in c.client_stats()]

    def kept_summary(self, where: str) -> str:
        kept = [(t, c.kept_summary(where)) for t, c in sorted(self.teams.items())]
        loaded = [f"{t}: {k.removeprefix('kept ')}" for t, k in kept if k.startswith("kept ")]
        if not loaded:
            return "nothing was loaded by this run"
        return f"kept {'; '.join(loaded)}"


@dataclass
class OrgResult:
    """What an org load did, shaped like `LoadResult` for the summary (sums over the
    workspaces) with each workspace's own result in `teams`."""

    pipeline_name: str
    elapsed_s: float
    progress: dict[str, Any]
    requests: dict[str, dict[str, Any]]
    row_counts: dict[str, int]
    org: Org
    teams: dict[str, LoadResult] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "elapsed_s": round(self.elapsed_s, 3),
            "progress": self.progress,
            "requests": self.requests,
            "row_counts": self.row_counts,
            "org": {"enterprise_id": self.org.enterprise_id, "name": self.org.name},
            "teams": {t: r.as_dict() for t, r in self.teams.items()},
        }


class OrgLoadFailed(RuntimeError):
    """Some workspaces of an org load failed; the others are loaded."""

    def __init__(self, failures: dict[str, BaseException], kept: str) -> None:
        from ingest.load.explain import explain

        lines = "; ".join(f"{t}: {explain(e)[1]}" for t, e in sorted(failures.items()))
        super().__init__(f"{len(failures)} workspace(s) of the org failed ({lines})")
        self.failures = failures
        self.ingest_kept = kept


def run_org(
    token: str,
    settings: LoadSettings,
    target: Target,
    org: Org,
    teams: tuple[str, ...],
    *,
    progress: OrgProgress | None = None,
    seed_states: dict[str, dict[str, Any]] | None = None,
    max_parallel: int = MAX_PARALLEL_TEAMS,
) -> OrgResult:
    """Load `teams` of `org` at once; raises `OrgLoadFailed` (after every workspace ran)
    when any failed, naming each and what was kept."""
    progress = progress or OrgProgress()
    import_load_modules()  # before the threads: no module half imported by two of them
    started = time.monotonic()
    # DuckDB has one writer: the workspaces take turns on their load steps (run_load's
    # `load_lock`; None = no lock, for destinations that load in parallel)
    writer = threading.Lock()
    lock = (lambda: writer) if target.destination == "duckdb" else None
    results: dict[str, LoadResult] = {}
    failures: dict[str, BaseException] = {}

    def one(team: str) -> None:
        try:
            results[team] = run_load(
                token,
                settings.replace(team_ids=(team,), org_teams=teams),
                target,
                progress=progress.team(team),
                load_lock=lock,
                seed_states=seed_states,
            )
        except BaseException as exc:  # noqa: BLE001 - reported for every workspace below
            failures[team] = exc

    with ThreadPoolExecutor(max_workers=max(1, min(max_parallel, len(teams)))) as pool:
        list(pool.map(one, teams))
    if failures:
        interrupted = [e for e in failures.values() if isinstance(e, KeyboardInterrupt)]
        if interrupted:
            interrupted[0].ingest_kept = progress.kept_summary(describe_target(target))  # type: ignore[attr-defined]
            raise interrupted[0]
        raise OrgLoadFailed(failures, progress.kept_summary(describe_target(target)))
    rows: dict[str, int] = {}
    for r in results.values():
        for k, v in r.row_counts.items():
            rows[k] = rows.get(k, 0) + v
    return OrgResult(
        pipeline_name=f"{target.pipeline_name()}_<team> x {len(teams)}",
        elapsed_s=time.monotonic() - started,
        progress=progress.snapshot(),
        requests=progress.request_stats(),
        row_counts=rows,
        org=org,
        teams={t: results[t] for t in teams if t in results},
    )
