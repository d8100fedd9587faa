"""The flows: `slack_pipeline` (the nightly load) and `slack_shard` (one shard of channel
history as its own flow run, for the distributed path).

In-process (default, also for the deployment a worker runs): the flow plans the channels,
loads metadata and users, and submits one `load_channel_history` task per shard
(`.submit()`: threads of this process, sharing one Slack budget), at most `max_concurrency`
at once (counted here: the run already holds the whole budget and the DuckDB writer role,
so it asks the Prefect server for no slot per task).

Distributed (`shard_deployment="slack_shard/slack-shard"`, opt-in): each shard becomes a
flow run of that deployment, picked up by any worker of the work pool, held to the
`slack-history` tag concurrency limit; the processes split the Slack budget through a
lease on the Prefect server (flows.budget_lease). The parent run holds a worker slot while it
waits, so the pool needs `1 + max_concurrency` slots for shards to run in parallel.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from contextlib import nullcontext
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from prefect import flow, get_run_logger
from prefect.task_runners import ThreadPoolTaskRunner

from flows.artifacts import artifact_key
from flows.budget_lease import budget_lease, budget_limit_name, budget_slots, slots_per_process
from flows.concurrency import (
    HISTORY_TAG,
    ensure_load_lock,
    ensure_tag_limit,
    hold_writer,
    load_lock,
)
from flows.config import (
    DEFAULT_BACKOFF_S,
    FLOW_SCHEMAS,
    RETRIES,
    FlowOptions,
    resolve,
    settings_from_params,
    settings_to_params,
    split_params,
    target_from_params,
    target_to_params,
)
from flows.failures import exception_of, explain_line, is_fatal, notify_failure
from flows.pending import settle_pending
from flows.progress import ProgressBoard
from flows.sharding import assign_shards
from flows.tasks import (
    get_resources,
    get_users,
    load_channel_history,
    load_channels,
    retry_options,
)
from ingest.load.dataset_states import collect_seed_states
from ingest.load.target import Target
from ingest.source import LoadSettings, schema_fields

if TYPE_CHECKING:
    from prefect.flows import FlowStateHook
    from prefect.futures import PrefectFuture
    from prefect.task_runners import TaskRunner

POLL_S = 1.0
SHARD_RESULT_MARK = "slack-ingest shard result"


class ShardFailed(RuntimeError):
    """Part of the load failed (after retries); the message says which part and why."""


def _logger() -> Any:
    try:
        return get_run_logger()
    except Exception:  # noqa: BLE001 - outside a run context
        return logging.getLogger("flows")


def _flow_run_id() -> str | None:
    from prefect.runtime import flow_run

    return str(flow_run.id) if flow_run.id else None


@dataclass
class RunContext:
    settings: dict[str, Any]
    target: dict[str, Any]
    n_shards: int
    max_concurrency: int
    budget_name: str
    slots: int
    backoff_s: float
    retries: int
    started: float
    marks: dict[str, float] = field(default_factory=dict)

    def mark(self, phase: str) -> None:
        """Seconds since the flow started, when `phase` ended (the summary's `phases_s`)."""
        self.marks[phase] = round(time.monotonic() - self.started, 3)

    def task_options(self) -> dict[str, Any]:
        return retry_options(self.backoff_s, self.retries)

    def summary(self, mode: str) -> dict[str, Any]:
        return {
            "mode": mode,
            "n_shards": self.n_shards,
            "max_concurrency": self.max_concurrency,
            "target": self.target,
            "flow_run_id": _flow_run_id(),
        }


def flow_signature(schemas: tuple[type, ...] = FLOW_SCHEMAS) -> inspect.Signature:
    """`slack_pipeline`'s parameters, derived from the settings schemas (`FLOW_SCHEMAS`: the
    fields with a `flow` position, in that order). Settings resolved from dlt config default
    to None (unset: config applies, as for `slack-ingest run`); flow-run options default to
    their fields' defaults."""
    fields = sorted(
        (f for cls in schemas for f in schema_fields(cls) if f.setting.flow is not None),
        key=lambda f: float(f.setting.flow or 0),
    )
    return inspect.Signature(
        [
            inspect.Parameter(
                f.name,
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                default=None if f.setting.config else f.default,
                annotation=f.kind | None if f.setting.config else f.kind,
            )
            for f in fields
        ],
        return_annotation=dict[str, Any],
    )


def _slack_pipeline(*args: Any, **kwargs: Any) -> dict[str, Any]:
    """Load a Slack workspace into one dataset: channel history sharded over parallel
    tasks (or over workers, with `shard_deployment`). Options left unset come from dlt
    config (`.dlt/config.toml`, environment) as for `slack-ingest run`. The token comes
    from a Prefect Secret block or dlt secrets, never from a parameter."""
    bound = PIPELINE_SIGNATURE.bind(*args, **kwargs)
    bound.apply_defaults()
    return run_pipeline(bound.arguments)


#: The flow's parameters are generated, not written out: Prefect 3 reads them (its
#: parameter schema, call binding and validation, `prefect deploy` of prefect.yaml's
#: entrypoint, which imports the module) through `inspect.signature`, which returns
#: `__signature__`. The function is named `slack_pipeline` so the entrypoint Prefect
#: derives for `serve` (`flows/pipeline.py:slack_pipeline`) names the flow below.
PIPELINE_SIGNATURE = flow_signature()
#: (typed for Prefect's generic hook and runner parameters)
FAILURE_HOOK = cast("FlowStateHook[..., Any]", notify_failure)
TASK_RUNNER = cast("TaskRunner[PrefectFuture[Any]]", ThreadPoolTaskRunner(max_workers=32))
_slack_pipeline.__signature__ = PIPELINE_SIGNATURE  # type: ignore[attr-defined]
_slack_pipeline.__name__ = _slack_pipeline.__qualname__ = "slack_pipeline"
slack_pipeline = flow(name="slack_pipeline", on_failure=[FAILURE_HOOK], task_runner=TASK_RUNNER)(
    _slack_pipeline
)


def run_pipeline(params: dict[str, Any]) -> dict[str, Any]:
    """The flow's body: `params` are its parameters, by name (see `flow_signature`)."""
    from flows.analytics import build_models_task
    from flows.secrets import get_pii_salt, get_token
    from ingest.analytics.after_load import check_models
    from ingest.load.preflight import preflight

    started = time.monotonic()
    by_schema = split_params(params)
    opts = FlowOptions(**by_schema[FlowOptions]).validate()
    settings, target = resolve(by_schema[LoadSettings], by_schema[Target])
    # Fails fast (no retry) on a bad token, a missing scope or an unreachable API.
    check_models(target)  # --models yes without dbt: before anything is loaded
    get_pii_salt(settings)  # --pii hash without its salt: before Slack is read
    info = preflight(get_token(), settings.replace(channels=(), exclude_channels=()))
    if info["org"] is not None and len(info["teams"]) > 1:  # Enterprise Grid: per workspace
        from flows.org import run_org_pipeline

        summary = run_org_pipeline(params, info["org"], info["teams"], opts.workspace_deployment)
        summary["models"] = build_models_task(target)
        return summary
    if info["org"] is not None:  # one workspace of an org
        settings = settings.replace(team_ids=info["teams"])
    team_id = info["team_id"]
    if opts.shard_deployment:  # shard runs in other processes count against the tag limit
        ensure_tag_limit(HISTORY_TAG, opts.max_concurrency)
    ensure_load_lock(target)
    ctx = RunContext(
        settings=settings_to_params(settings),
        target=target_to_params(target),
        n_shards=opts.shards,
        max_concurrency=opts.max_concurrency,
        budget_name=budget_limit_name(team_id),
        slots=budget_slots(),
        backoff_s=opts.retry_backoff_s,
        retries=opts.retries,
        started=started,
    )
    ctx.mark("setup")
    _logger().info(
        "slack load: %s shards, max concurrency %s, %s %s, dataset %s",
        opts.shards,
        opts.max_concurrency,
        target.destination,
        target.location(),
        target.dataset,
    )
    run = (
        _run_distributed(ctx, opts.shard_deployment)
        if opts.shard_deployment
        else _run_in_process(ctx)
    )
    summary = _finish(ctx, run)
    # after a load that finished: the analytics models (--models), with their artifact;
    # a workspace of an org run leaves them to its parent (they read every workspace)
    if not settings.org_teams:
        summary["models"] = build_models_task(target)
    return summary


def _run_in_process(ctx: RunContext) -> dict[str, Any]:
    target = target_from_params(ctx.target)
    lock = load_lock(target)
    out = ctx.summary("in-process")
    opts = ctx.task_options()
    # The whole budget (every task of this process shares the client's buckets), and the
    # DuckDB writer role for the run (its tasks take turns on a local lock).
    # A workspace of an org run shares the DuckDB file with its sibling runs on other
    # workers: it takes the writer role per load step (the load lock), not for the run.
    org_child = bool(ctx.settings.get("org_teams"))
    writer = nullcontext() if org_child else hold_writer(target)
    with budget_lease(ctx.budget_name, ctx.slots, ctx.slots), writer:
        ctx.mark("leases")
        out["settled"] = settle_pending(target, _own_pipelines(ctx, target), lock=lock)
        plan = get_resources.with_options(**opts)(ctx.settings)
        ctx.mark("plan")
        groups = assign_shards(plan["readable"], ctx.n_shards)
        seeds = collect_seed_states(target, plan["readable"], lock=lock)
        ctx.mark("seeds")
        key = _flow_run_id() or "local"
        with ProgressBoard(
            key, len(plan["readable"]), artifact_key=artifact_key("progress", target)
        ):
            meta = [
                load_channels.with_options(**opts).submit(ctx.settings, ctx.target),
                get_users.with_options(**opts).submit(ctx.settings, ctx.target),
            ]
            # At most max_concurrency shard tasks at once, counted here: a shard is
            # submitted when a running one finishes (no server slot per task: with a
            # SQLite-backed server, concurrent slot requests fail "database is locked" and
            # are retried after ~2 s each).
            free = threading.BoundedSemaphore(ctx.max_concurrency)
            history = []
            for i, ids in enumerate(groups):
                if not ids:
                    continue
                free.acquire()
                future = load_channel_history.with_options(**opts).submit(
                    ctx.settings,
                    ctx.target,
                    i,
                    ctx.n_shards,
                    ids,
                    seeds={c: seeds[c] for c in ids if c in seeds},
                    progress_key=key,
                )
                future.add_done_callback(lambda _f: free.release())
                history.append((i, ids, future))
            shard_results = [_outcome(f, i, ctx.n_shards, ids) for i, ids, f in history]
            meta_results = [_outcome(f, None, ctx.n_shards, []) for f in meta]
            ctx.mark("tasks")
    return {**out, "plan": plan, "shards": shard_results, "meta": meta_results}


def _own_pipelines(ctx: RunContext, target: Target) -> list[str] | None:
    """The pipelines whose leftover packages this run settles: all of the dataset's, or for
    a workspace of an org run only its own (its siblings may be loading right now)."""
    from flows.pending import local_pipeline_names
    from ingest.load.run import team_shard

    if not ctx.settings.get("org_teams"):
        return None
    own = target.pipeline_name(team_shard(settings_from_params(ctx.settings), None))
    return [n for n in local_pipeline_names(target) if n == own or n.startswith(own + "_")]


def _outcome(future: Any, index: int | None, n: int, ids: list[str]) -> dict[str, Any]:
    """A task's result dict, or a failure record (never raises)."""
    future.wait()
    state = future.state
    if state.is_completed():
        return {**future.result(), "state": "ok"}
    exc = exception_of(state)
    return {
        "state": "failed",
        "error": explain_line(exc) if exc else (state.message or "failed"),
        "fatal": bool(exc is not None and is_fatal(exc)),
        "exception": exc,
        "shard_index": index,
        "n_shards": n,
        "label": f"{index + 1}/{n}" if index is not None else "metadata",
        "channels": ids,
    }


def _run_distributed(ctx: RunContext, deployment: str) -> dict[str, Any]:
    target = target_from_params(ctx.target)
    out = ctx.summary("distributed")
    opts = ctx.task_options()
    # This process's own Slack work (plan, metadata, users) holds the whole budget and the
    # DuckDB writer role, then hands both over to the shard runs.
    with budget_lease(ctx.budget_name, ctx.slots, ctx.slots), hold_writer(target):
        ctx.mark("leases")
        out["settled"] = settle_pending(target, lock=load_lock(target))
        plan = get_resources.with_options(**opts)(ctx.settings)
        ctx.mark("plan")
        meta = [
            load_channels.with_options(**opts).submit(ctx.settings, ctx.target),
            get_users.with_options(**opts).submit(ctx.settings, ctx.target),
        ]
        meta_results = [_outcome(f, None, ctx.n_shards, []) for f in meta]
        ctx.mark("metadata")
    groups = [
        (i, ids) for i, ids in enumerate(assign_shards(plan["readable"], ctx.n_shards)) if ids
    ]
    parallel = max(1, min(ctx.max_concurrency, len(groups)))
    occupy = slots_per_process(parallel, ctx.slots, settings_from_params(ctx.settings))
    budget = {"name": ctx.budget_name, "occupy": occupy, "slots": ctx.slots}
    with ProgressBoard(
        _flow_run_id() or "local",
        len(plan["readable"]),
        artifact_key=artifact_key("progress", target),
    ) as board:
        shard_results = _dispatch_shards(ctx, deployment, groups, budget, board)
        ctx.mark("shard runs")
    return {**out, "plan": plan, "shards": shard_results, "meta": meta_results, "budget": budget}


def _dispatch_shards(
    ctx: RunContext,
    deployment: str,
    groups: list[tuple[int, list[str]]],
    budget: dict[str, Any],
    board: ProgressBoard,
) -> list[dict[str, Any]]:
    """One flow run of the shard deployment per shard; wait for all of them."""
    from prefect.client.orchestration import get_client
    from prefect.deployments import run_deployment

    runs: dict[Any, tuple[int, list[str]]] = {}
    for i, ids in groups:
        fr: Any = run_deployment(
            deployment,
            timeout=0,
            flow_run_name=f"history shard {i + 1}/{ctx.n_shards}",
            parameters={
                "settings": ctx.settings,
                "target": ctx.target,
                "shard_index": i,
                "n_shards": ctx.n_shards,
                "channel_ids": ids,
                "budget": budget,
                "retries": ctx.retries,
                "retry_backoff_s": ctx.backoff_s,
            },
        )
        runs[fr.id] = (i, ids)
    results: dict[int, dict[str, Any]] = {}
    with get_client(sync_client=True) as client:
        while len(results) < len(runs):
            for run_id, (i, ids) in runs.items():
                if i in results:
                    continue
                fr = client.read_flow_run(run_id)
                if fr.state is None or not fr.state.is_final():
                    continue
                results[i] = _shard_run_result(client, fr, i, ctx.n_shards, ids)
                board.finished(f"shard{i}", len(ids))
            if len(results) < len(runs):
                time.sleep(POLL_S)
    return [results[i] for i, _ in groups]


def _shard_run_result(client: Any, fr: Any, i: int, n: int, ids: list[str]) -> dict[str, Any]:
    """What a finished shard flow run published (`publish_shard_result`)."""
    import json

    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    base = {
        "shard_index": i,
        "n_shards": n,
        "label": f"{i + 1}/{n}",
        "channels": ids,
        "flow_run": fr.name,
    }
    if not fr.state.is_completed():
        why = (fr.state.message or "").strip().splitlines()
        return {
            **base,
            "state": "failed",
            "fatal": False,
            "error": f"flow run {fr.name} {fr.state.type.value.lower()}: "
            f"{why[0] if why else 'no message'}",
        }
    arts = client.read_artifacts(
        artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[fr.id]))
    )
    for art in arts:
        if (art.description or "").startswith(SHARD_RESULT_MARK):
            data = json.loads(art.data) if isinstance(art.data, str) else art.data
            row = data[0] if isinstance(data, list) and data else {}
            return {**base, **json.loads(row.get("result_json") or "{}"), "state": "ok"}
    return {
        **base,
        "state": "failed",
        "fatal": False,
        "error": f"flow run {fr.name} published no result",
    }


def publish_shard_result(result: dict[str, Any]) -> None:
    """A shard run's result as a table artifact: the parent reads it from the server on
    any machine (a local result file would not be)."""
    import json

    from prefect.artifacts import create_table_artifact

    progress = result.get("progress") or {}
    row = {
        "shard": result.get("label"),
        "channels": len(result.get("channels") or []),
        "messages": progress.get("messages", 0),
        "replies": progress.get("replies", 0),
        "result_json": json.dumps(result, default=str),
    }
    create_table_artifact(
        table=[row], description=f"{SHARD_RESULT_MARK} {result.get('label')}", _sync=True
    )  # type: ignore[call-arg]  # (sync dispatch)


@flow(name="slack_shard", on_failure=[FAILURE_HOOK])
def slack_shard(
    settings: dict[str, Any],
    target: dict[str, Any],
    shard_index: int,
    n_shards: int,
    channel_ids: list[str],
    budget: dict[str, Any] | None = None,
    retries: int = RETRIES,
    retry_backoff_s: float = DEFAULT_BACKOFF_S,
) -> dict[str, Any]:
    """One shard of channel history as its own flow run (any worker may pick it up).
    `budget` is the Slack budget lease this process takes: {name, occupy, slots}."""
    target_obj = target_from_params(target)
    ensure_load_lock(target_obj)
    key = _flow_run_id() or f"shard{shard_index}"
    with ProgressBoard(
        key, len(channel_ids), artifact_key=artifact_key(f"progress-shard{shard_index}", target_obj)
    ):
        result = load_channel_history.with_options(
            tags=[HISTORY_TAG], **retry_options(retry_backoff_s, retries)
        )(settings, target, shard_index, n_shards, channel_ids, budget=budget, progress_key=key)
    publish_shard_result(result)
    return result


def _finish(ctx: RunContext, run: dict[str, Any]) -> dict[str, Any]:
    """Publish the summary; then fail the run if any part failed (a fatal error as itself,
    so its one-line explanation reaches the user)."""
    from flows.artifacts import channel_rows, publish_summary, sum_requests

    target = target_from_params(ctx.target)
    plan = run.pop("plan", {}) or {}
    shards, meta = run.get("shards", []), run.get("meta", [])
    skipped = dict(plan.get("skipped") or {})
    for s in shards:
        skipped.update((s.get("progress") or {}).get("skipped") or {})
    failures = [p for p in shards + meta if p.get("state") != "ok"]
    exceptions = [p.pop("exception", None) for p in failures]
    summary = {
        **run,
        "ok": not failures,
        "wall_s": round(time.monotonic() - ctx.started, 3),
        "channels_planned": len(plan.get("readable") or []),
        "skipped": skipped,
        "messages": sum((s.get("progress") or {}).get("messages", 0) for s in shards),
        "replies": sum((s.get("progress") or {}).get("replies", 0) for s in shards),
        "requests": sum_requests(shards + meta),
        "channels": channel_rows(target, shards, skipped, names=plan.get("names")),
    }
    if failures:
        summary["error"] = sorted(failures, key=lambda p: not p.get("fatal"))[0].get("error")
    ctx.mark("summary")
    summary["phases_s"] = dict(ctx.marks)
    publish_summary(summary, target)
    if failures:
        fatal = next((e for e in exceptions if e is not None and is_fatal(e)), None)
        if fatal is not None:
            raise fatal
        lines = "; ".join(f"{p.get('label')}: {p.get('error')}" for p in failures)
        raise ShardFailed(
            f"{len(failures)} part(s) of the load failed ({lines}); rerun to continue"
        )
    return summary
