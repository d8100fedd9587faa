"""Running dlt pipelines for a Slack load: `run_load` and its slice loop.

dlt also keeps the state in the destination (`_dlt_pipeline_state`), so a fresh machine or
a wiped pipelines dir resumes from the destination. `Target` and its checks live in
`ingest.load.target`, the destinations in `ingest.load.destinations`; both are re-exported
here for the modules that import them from `ingest.load.run`.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

import dlt

from ingest.load.destinations import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    MEMORY_RETRIES,
    SINGLE_THREAD_BELOW,
    apply_destination_hints,
    check_credentials,
    duckdb_credentials,
    load_options,
    make_destination,
    memory_size_bytes,
    missing_credentials,
    raised_memory_limit,
)
from ingest.load.journal import Journal, open_changes
from ingest.load.memory import trim_heap, tune_process_memory
from ingest.load.rescan import known_threads
from ingest.load.target import (
    DEFAULT_DATASET,
    DEFAULT_DUCKDB_PATH,
    Target,
    check_target,
    describe_target,
    duckdb_file_missing,
)
from ingest.source import (
    Changes,
    LoadProgress,
    LoadSettings,
    MessageStream,
    SlackContext,
    check_token,
    make_source,
    reconcile,
    saved_channel_states,
    start_history,
    team_of,
)

__all__ = [  # (names other modules import from here)
    "ALL_RESOURCES",
    "DEFAULT_DATASET",
    "DEFAULT_DUCKDB_MEMORY_LIMIT",
    "DEFAULT_DUCKDB_PATH",
    "MEMORY_RETRIES",
    "SINGLE_THREAD_BELOW",
    "LoadResult",
    "Target",
    "apply_destination_hints",
    "check_credentials",
    "check_target",
    "describe_target",
    "duckdb_credentials",
    "duckdb_file_missing",
    "finish_pending",
    "initial_backfill",
    "load_options",
    "load_with_memory_retries",
    "log_and_note",
    "make_destination",
    "make_pipeline",
    "memory_size_bytes",
    "missing_credentials",
    "raised_memory_limit",
    "run_load",
    "sync_with_destination",
    "team_shard",
]

log = logging.getLogger("ingest.load.run")  # shown by --verbose
ALL_RESOURCES = (
    "team",
    "channels",
    "users",
    "channel_members",
    "files",
    "usergroups",
    "messages",
)


def log_and_note(
    logger: logging.Logger, level: int, text: str, progress: LoadProgress | None
) -> None:
    """A line for --verbose and for the run's summary (its progress notes)."""
    logger.log(level, text)
    if progress is not None:
        progress.note(text)


#: dlt keeps a merge load's rows in `<dataset>_staging` after merging them: a second copy of
#: every message in the same file. Truncated after each successful load unless the user
#: sets it (`LOAD__TRUNCATE_STAGING_DATASET=false`, or `[load]` in .dlt/config.toml).
TRUNCATE_STAGING_ENV = "LOAD__TRUNCATE_STAGING_DATASET"


def _truncate_staging_by_default() -> None:
    if TRUNCATE_STAGING_ENV not in os.environ:
        configured: Any
        try:
            configured = dlt.config.get("load.truncate_staging_dataset")
        except Exception:  # noqa: BLE001 - an unreadable config leaves dlt's own error for later
            configured = None
        if configured is None:
            os.environ[TRUNCATE_STAGING_ENV] = "true"


def load_with_memory_retries(
    pipeline: dlt.Pipeline, target: Target, progress: LoadProgress | None = None, **load_kwargs: Any
) -> tuple[Any, Target]:
    """pipeline.load(); when DuckDB runs out of memory under its cap, load the same package
    again (dlt keeps it, with the jobs that completed) with the cap doubled, at most
    MEMORY_RETRIES times. Returns the load info and the target the load succeeded with:
    the raised cap stays for the rest of the run."""
    retries_left = MEMORY_RETRIES
    _truncate_staging_by_default()
    while True:
        try:
            return pipeline.load(**load_kwargs), target
        except Exception as exc:
            raised = raised_memory_limit(target, exc, retries_left)
            if raised is None:
                raise
            log_and_note(
                log,
                logging.INFO,
                f"DuckDB ran out of memory at {target.duckdb_memory_limit}: loading "
                f"again at {raised.duckdb_memory_limit}",
                progress,
            )
            retries_left -= 1
            target = raised
            load_kwargs = {**load_kwargs, "destination": make_destination(target)}


def make_pipeline(target: Target, shard: str | None = None) -> dlt.Pipeline:
    kwargs: dict[str, Any] = {}
    if target.pipelines_dir:
        kwargs["pipelines_dir"] = target.pipelines_dir
    return dlt.pipeline(
        pipeline_name=target.pipeline_name(shard),
        destination=make_destination(target),
        dataset_name=target.dataset,
        **kwargs,
    )


def finish_pending(pipeline: dlt.Pipeline, target: Target, **load_kwargs: Any) -> bool:
    """Complete packages a previous (crashed or failed) run left behind. dlt's run() would
    load them and then return without extracting anything new."""
    if not pipeline.has_pending_data:
        return False
    pipeline.normalize()
    load_with_memory_retries(pipeline, target, **load_kwargs)
    return True


def sync_with_destination(
    pipeline: dlt.Pipeline, target: Target, progress: LoadProgress | None = None
) -> None:
    """What dlt's `run()` does first and our step-by-step load must do too: the destination,
    where dlt commits each pipeline's state with its data, is the truth. A newer committed
    state replaces the local one (a fresh machine continues from the warehouse's cursors);
    a dataset that no longer exists wipes the local folder (a deleted DuckDB file is loaded
    again in full, not from cursors whose data is gone). A destination that cannot be read
    now (a DuckDB file locked by another process) leaves the local state, with a note: the
    load step reports the problem if it lasts, and keeps the extracted package."""
    if duckdb_file_missing(target):
        # No file, nothing committed: asking would create the file (before Slack has been
        # read: a run that then fails must leave nothing behind). Local state whose
        # warehouse is gone is dropped, as dlt's sync would.
        if pipeline.has_data and not pipeline.has_pending_data:
            pipeline.drop()
        return
    try:
        pipeline.sync_destination()
    except Exception as exc:  # noqa: BLE001 - reported below; the load step re-checks
        from ingest.load.explain import explain

        log_and_note(
            log,
            logging.WARNING,
            f"state not synced with the destination ({explain(exc)[1]})",
            progress,
        )


def upgrade_for_typed_columns(
    pipeline: dlt.Pipeline, target: Target, progress: LoadProgress | None = None
) -> None:
    """A dataset an older slack-ingest loaded gets the typed columns (`ingest/load/upgrade.py`)
    before anything is extracted; packages it left behind were loaded first, in its types."""
    if duckdb_file_missing(target) or pipeline.first_run:
        return
    from ingest.load.upgrade import upgrade_dataset

    for note in upgrade_dataset(pipeline):
        log_and_note(log, logging.INFO, note, progress)


def initial_backfill(
    pipeline: dlt.Pipeline, target: Target, seed_states: dict[str, dict[str, Any]] | None
) -> bool:
    """A DuckDB load that no channel has a cursor for yet (checked after the sync, so a
    warehouse that was emptied counts): its slices only append, and it loads them without
    DuckDB's checkpoint compaction.

    Why (benchmarks/README.md, "memory"): at each checkpoint DuckDB merges the row groups
    that slices leave part full, rewriting up to 122,880 rows, like a binary counter
    (slice 2 merges two slices' rows, slice 4 four, slice 8 eight). On a backfill that is
    the load's memory peak (+20 MB over the slice itself) and rewrites each row several
    times. An append-only load has nothing to reclaim, so it skips the merges; the next
    load with cursors compacts as DuckDB does by default, once (usually a nightly run,
    whose extract is small).
    Compaction stays on for every other load: a run with cursors re-merges its lookback
    (delete + insert), and without compaction the deleted rows would stay in the file
    (measured: 6x the rows after 40 nightly runs)."""
    if target.destination != "duckdb" or seed_states:
        return False
    return not saved_channel_states(pipeline)


@dataclass
class LoadResult:
    pipeline_name: str
    elapsed_s: float
    progress: dict[str, Any]
    requests: dict[str, dict[str, Any]]
    row_counts: dict[str, int] = field(default_factory=dict)
    finished_pending: bool = False
    load_ids: list[str] = field(default_factory=list)
    marked_deleted: int = 0
    #: the listener's captured changes this run applied: {"consumed": journal entries}
    #: ({} when there is no journal)
    changes: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "pipeline_name": self.pipeline_name,
            "elapsed_s": round(self.elapsed_s, 3),
            "progress": self.progress,
            "requests": self.requests,
            "row_counts": self.row_counts,
            "finished_pending": self.finished_pending,
            "load_ids": self.load_ids,
            "marked_deleted": self.marked_deleted,
            "changes": self.changes,
        }


def _attach_kept(exc: BaseException, progress: LoadProgress, target: Target, loading: bool) -> None:
    """Tell the failure line what this run committed (`ingest.load.explain.kept_of` reads it)."""
    kept = progress.kept_summary(describe_target(target))
    if loading:
        kept += "; the slice being loaded is kept and the next run loads it"
    try:
        exc.ingest_kept = kept  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # an exception type without a __dict__
        pass


@dataclass
class _Slices:
    """One `run_load`'s moving parts: its pipeline, where it loads (the target changes when
    a load raises DuckDB's memory cap), and what the slices loaded so far."""

    pipeline: dlt.Pipeline
    target: Target
    lock: Callable[[], AbstractContextManager[Any]]
    progress: LoadProgress
    extract_options: dict[str, Any]
    load_kwargs: dict[str, Any]
    counts: dict[str, int] = field(default_factory=dict)
    load_ids: list[str] = field(default_factory=list)
    deleted: int = 0
    loading: bool = False
    journal: Journal | None = None
    consumed: int = 0

    def consume(self, seqs: list[int]) -> None:
        """Journal entries whose effect is loaded: consumed (exactly once across crashes:
        a run that dies before this applies them again, idempotently)."""
        if self.journal is not None and seqs:
            self.consumed += self.journal.consume(seqs)

    def result(self, elapsed_s: float, finished_pending: bool) -> LoadResult:
        return LoadResult(
            pipeline_name=self.pipeline.pipeline_name,
            elapsed_s=elapsed_s,
            progress=self.progress.snapshot(),
            requests=self.progress.request_stats(),
            row_counts=self.counts,
            finished_pending=finished_pending,
            load_ids=self.load_ids,
            marked_deleted=self.deleted,
            changes={"consumed": self.consumed} if self.journal is not None else {},
        )


def _open(
    target: Target,
    shard: str | None,
    lock: Callable[[], AbstractContextManager[Any]],
    progress: LoadProgress,
    seed_states: dict[str, dict[str, Any]] | None,
) -> tuple[_Slices, bool]:
    """The pipeline, ready for a first slice: packages a failed run kept go first (they carry
    their state; syncing with a destination they never reached would wipe them), then the
    committed state; an initial DuckDB backfill loads without compaction. Returns whether
    pending packages were finished."""
    extract_options, load_kwargs = load_options(target)
    pipeline = make_pipeline(target, shard)
    pending = False
    with lock():
        if pipeline.has_pending_data:
            pending = finish_pending(pipeline, target, **load_kwargs)
        sync_with_destination(pipeline, target, progress)
        upgrade_for_typed_columns(pipeline, target, progress)
    if initial_backfill(pipeline, target, seed_states):
        target = replace(target, duckdb_compaction=False)
        load_kwargs = {**load_kwargs, "destination": make_destination(target)}
    return _Slices(pipeline, target, lock, progress, extract_options, load_kwargs), pending


def _load_slice(run: _Slices, source: Any, stream: MessageStream) -> None:
    """Extract one slice, normalize and load it (with the state it reached), and count it."""
    apply_destination_hints(source, run.target)
    run.pipeline.extract(source, **run.extract_options)
    trim_heap()  # the fetch's pages are gone: give their memory back before loading
    norm = run.pipeline.normalize()
    with run.lock():
        run.loading = True
        info, run.target = load_with_memory_retries(
            run.pipeline, run.target, run.progress, **run.load_kwargs
        )
        run.loading = False
        run.deleted += reconcile(run.pipeline, stream.take_reconciliations())
    run.consume(stream.take_applied())
    run.load_ids.extend(info.loads_ids)
    rows = {k: int(v) for k, v in norm.row_counts.items() if not k.startswith("_dlt")}
    for k, v in rows.items():
        run.counts[k] = run.counts.get(k, 0) + v
    run.progress.committed(rows, stream.slice_channels)
    trim_heap()


def _load_slices(
    run: _Slices,
    token: str,
    settings: LoadSettings,
    ctx: SlackContext,
    stream: MessageStream,
    channel_ids: list[str] | None,
    resources: tuple[str, ...],
    seed_states: dict[str, dict[str, Any]] | None,
) -> None:
    """Slices: each extract ends at a channel checkpoint after ~slice_rows rows or
    ~slice_seconds of fetching and is loaded with the state it reached, so a killed run
    resumes near where it stopped. A failed fan-out ends its slice where it failed: that
    slice is loaded too, then the failure is raised (every rerun keeps something)."""
    include = resources
    changes = _prepare_changes(run, ctx, settings, resources)
    if "messages" in include:
        start_history(run.pipeline, ctx, stream, channel_ids, seed_states)
    while True:
        source = make_source(
            token,
            settings,
            progress=run.progress,
            channel_ids=channel_ids,
            include=include,
            seed_states=seed_states,
            stream=stream,
            context=ctx,
        )
        _load_slice(run, source, stream)
        if stream.failure is not None:
            raise stream.failure
        if "messages" not in include or stream.finished:
            break
        include = ("messages",)
    if ctx.failures:  # a metadata resource gave up; everything else is loaded
        raise ctx.failures[0]
    if changes is not None and "channels" in resources and channel_ids is None:
        # Metadata events (renames, archiving, membership, users) are applied by reading
        # channels, members and users in full, as every run does; and the changes of
        # channels no run reads (not selected, or the bot is not in them) have nothing
        # to apply them.
        read = set(ctx.history_ids(None))
        unread = [s for cid, ch in changes.channels.items() if cid not in read for s in ch.seqs]
        run.consume(changes.metadata_seqs + unread)
    if changes is not None and run.consumed:
        log_and_note(
            log,
            logging.INFO,
            f"applied {run.consumed:,} changes captured by the listener "
            f"({run.target.journal_file()})",
            run.progress,
        )


def _prepare_changes(
    run: _Slices, ctx: SlackContext, settings: LoadSettings, resources: tuple[str, ...]
) -> Changes | None:
    """Hand the history fan-out what it needs beyond the cursors: the listener's captured
    changes (if a journal exists) and, for a rescan, the threads the warehouse holds."""
    changes: Changes | None = None
    if "messages" in resources or "channels" in resources:
        run.journal, changes = open_changes(run.target.journal_file())
        if changes is not None and "messages" in resources:
            ctx.changes = changes
    if settings.rescan and "messages" in resources:
        ctx.known_threads = known_threads(run.pipeline)
    return changes


def team_shard(settings: LoadSettings, shard: str | None) -> str | None:
    """The pipeline suffix of a load: one workspace of an org (`--team`) has pipelines of its
    own (`<name>_<team>[_<shard>]`), so its cursors and packages never mix with another's."""
    team = team_of(settings)
    if not team:
        return shard
    return f"{team}_{shard}" if shard else team


def run_load(
    token: str,
    settings: LoadSettings,
    target: Target,
    *,
    progress: LoadProgress | None = None,
    channel_ids: list[str] | None = None,
    resources: tuple[str, ...] = ALL_RESOURCES,
    shard: str | None = None,
    load_lock: Callable[[], AbstractContextManager[Any]] | None = None,
    seed_states: dict[str, dict[str, Any]] | None = None,
    pii_salt: str | None = None,
) -> LoadResult:
    """Extract, normalize and load one Slack load into the target.

    `load_lock` wraps only the load step (DuckDB has one writer: parallel shards extract
    and normalize in parallel and take turns loading). `seed_states` are per-channel states
    from other pipelines of the same dataset (a changed shard count moves channels between
    pipelines; the most advanced state wins, so nothing is reloaded). The load goes in
    slices (`_load_slices`)."""
    progress = progress or LoadProgress()
    tune_process_memory()
    started = time.monotonic()
    shard = team_shard(settings, shard)
    run, pending = _open(target, shard, load_lock or nullcontext, progress, seed_states)
    settings = settings.validate()
    # --pii hash: the salt (else dlt's providers') stays in the context, never in dlt
    ctx = SlackContext(check_token(token), settings, progress, pii_salt=pii_salt)
    stream = MessageStream()
    try:
        _load_slices(run, token, settings, ctx, stream, channel_ids, resources, seed_states)
    except BaseException as exc:
        _attach_kept(exc, progress, run.target, run.loading)
        raise
    finally:
        stream.close()
        if run.journal is not None:
            run.journal.close()
    return run.result(time.monotonic() - started, pending)
