"""The seed's tasks, over ingest/: `get_resources` (plan the channels), `load_channels`
(team, channels, members), `get_users`, and `load_channel_history` (one shard of channels).

Tasks take only plain, non-secret data (settings and target as dicts, channel ids) and
read the token where they run. Each writes through its own dlt pipeline of the one
dataset; with DuckDB the load step takes the writer lock (flows.concurrency).
"""

from __future__ import annotations

import os
import socket
import time
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.tasks import exponential_backoff

from flows.concurrency import load_lock
from flows.config import DEFAULT_BACKOFF_S, RETRIES, settings_from_params, target_from_params
from flows.failures import retry_transient
from flows.secrets import get_pii_salt, get_token
from flows.sharding import shard_name
from ingest.load.eager import import_load_modules

#: `.submit()` runs each task in its own thread: the heavy modules a load imports lazily are
#: imported here, in the thread that imports the flow, before any task is submitted
#: (`ingest.load.eager`).
import_load_modules(("flows.budget_lease", "flows.pending", "flows.progress", "flows.artifacts"))

JITTER = 0.5

RETRY_OPTIONS: dict[str, Any] = {
    "cache_policy": NO_CACHE,
    "retries": RETRIES,
    "retry_delay_seconds": exponential_backoff(backoff_factor=DEFAULT_BACKOFF_S),
    "retry_jitter_factor": JITTER,
    "retry_condition_fn": retry_transient,
}


def retry_options(backoff_s: float, retries: int = RETRIES) -> dict[str, Any]:
    """Per-run retries (`.with_options(**retry_options(s))`): delays s, 2s, 4s, ... with
    +-50% jitter; transient failures only (`retry_transient`)."""
    return {
        "retries": retries,
        "retry_delay_seconds": exponential_backoff(backoff_factor=backoff_s),
        "retry_jitter_factor": JITTER,
    }


def _attempt() -> int:
    from prefect.runtime import task_run

    try:
        return int(task_run.run_count or 1)
    except (TypeError, ValueError):
        return 1


def _where() -> dict[str, Any]:
    """Which machine and process ran this (ancestors: e.g. the worker that started it)."""
    import psutil

    ancestors = [p.pid for p in psutil.Process().parents()][:5]
    return {"hostname": socket.gethostname(), "pid": os.getpid(), "ancestors": ancestors}


def _load(
    settings: dict[str, Any],
    target: dict[str, Any],
    *,
    shard: str,
    resources: tuple[str, ...],
    channel_ids: list[str] | None = None,
    seeds: dict[str, dict[str, Any]] | None = None,
    progress: Any = None,
    budget: dict[str, Any] | None = None,
) -> dict[str, Any]:
    from flows.budget_lease import apply_share, budget_lease
    from flows.pending import settle_pending
    from ingest.load.dataset_states import collect_seed_states
    from ingest.load.run import run_load, team_shard

    s = settings_from_params(settings)
    t = target_from_params(target)
    lock = load_lock(t)
    started = time.time()
    token = get_token()
    pii_salt = get_pii_salt(s)  # --pii hash: read here, like the token; never a parameter
    settled = settle_pending(t, [t.pipeline_name(team_shard(s, shard))], lock=lock)
    if "messages" in resources and seeds is None:
        seeds = collect_seed_states(t, channel_ids, lock=lock)

    def go(share: float) -> Any:
        return run_load(
            token,
            apply_share(s, share),
            t,
            progress=progress,
            channel_ids=channel_ids,
            resources=resources,
            shard=shard,
            load_lock=lock,
            seed_states=seeds,
            pii_salt=pii_salt,
        )

    if budget:  # a process of a distributed run: lease this process's part of the budget
        with budget_lease(budget["name"], int(budget["occupy"]), int(budget["slots"])) as share:
            result = go(share)
    else:  # the flow process holds the whole budget
        result = go(1.0)
    ended = time.time()
    return {
        **result.as_dict(),
        "shard": shard,
        "started_at": started,
        "ended_at": ended,
        "attempt": _attempt(),
        "settled": settled,
        **_where(),
    }


@task(name="get_resources", **RETRY_OPTIONS)
def get_resources(settings: dict[str, Any]) -> dict[str, Any]:
    """Channels to read (ids, sorted) and channels skipped, with why."""
    from ingest.source import channel_pii, drop_owned_elsewhere, pii_for, plan_channels, team_of

    s = settings_from_params(settings)
    # --pii: a missing salt fails here, before Slack is read; group DM names (members'
    # handles) go to Prefect hashed or dropped, as the rows are loaded
    pii = pii_for(s.pii, get_pii_salt(s))
    plan = plan_channels(get_token(), s)
    drop_owned_elsewhere(plan, team_of(s), s.org_teams)  # an org's shared channels: once
    return {
        "readable": plan.readable_ids,
        "selected": [c["id"] for c in plan.selected],
        "names": {c["id"]: channel_pii(c, pii).get("name", "") for c in plan.selected},
        "skipped": dict(plan.skipped),
    }


@task(name="load_channels", **RETRY_OPTIONS)
def load_channels(
    settings: dict[str, Any], target: dict[str, Any], budget: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Team, channels, channel members, files and user groups (pipeline `<base>_meta`)."""
    return _load(
        settings,
        target,
        shard="meta",
        resources=("team", "channels", "channel_members", "files", "usergroups"),
        budget=budget,
    )


@task(name="get_users", **RETRY_OPTIONS)
def get_users(
    settings: dict[str, Any], target: dict[str, Any], budget: dict[str, Any] | None = None
) -> dict[str, Any]:
    """Every user, deleted users and bots included (pipeline `<base>_users`)."""
    return _load(settings, target, shard="users", resources=("users",), budget=budget)


def _history_run_name() -> str:
    from prefect.runtime import task_run

    p = task_run.parameters or {}
    return f"history shard {int(p.get('shard_index', 0)) + 1}/{p.get('n_shards', '?')}"


@task(name="load_channel_history", task_run_name=_history_run_name, **RETRY_OPTIONS)
def load_channel_history(
    settings: dict[str, Any],
    target: dict[str, Any],
    shard_index: int,
    n_shards: int,
    channel_ids: list[str],
    seeds: dict[str, dict[str, Any]] | None = None,
    budget: dict[str, Any] | None = None,
    progress_key: str | None = None,
) -> dict[str, Any]:
    """History and thread replies of one shard of channels (pipeline
    `<base>_shard<i>of<n>`). `seeds`: per-channel states from the dataset's other
    pipelines (read from the destination here when not given). A shard flow run adds the
    `slack-history` tag (a server-counted limit across processes); the in-process flow
    bounds its shard tasks itself."""
    from flows.progress import board_for

    board = board_for(progress_key)
    progress = board.track(f"shard{shard_index}") if board else None
    out = _load(
        settings,
        target,
        shard=shard_name(shard_index, n_shards),
        resources=("messages",),
        channel_ids=list(channel_ids),
        seeds=seeds,
        progress=progress,
        budget=budget,
    )
    if board:
        board.finished(f"shard{shard_index}", len(channel_ids))
    return {
        **out,
        "shard_index": shard_index,
        "n_shards": n_shards,
        "label": f"{shard_index + 1}/{n_shards}",
        "channels": list(channel_ids),
    }
