"""Building and running dlt pipelines for a Slack load.

One pipeline per (destination, location, dataset[, shard]): the name carries a short hash
of where it writes, so pointing a load at a new DuckDB file or dataset never reuses another
destination's cursors. dlt also keeps the state in the destination (`_dlt_pipeline_state`),
so a fresh machine or a wiped pipelines dir resumes from the destination.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import dlt
from dlt.common.destination import Destination

from ingest.load.explain import is_out_of_memory
from ingest.load.memory import trim_heap, tune_process_memory
from ingest.source import (
    ConfigError,
    LoadProgress,
    LoadSettings,
    MessageStream,
    SlackContext,
    check_token,
    make_source,
    reconcile,
    saved_channel_states,
    start_history,
)

DEFAULT_DUCKDB_PATH = "slack_ingest.duckdb"
DEFAULT_DATASET = "slack"
#: DuckDB's buffer pool cap for a load (DuckDB's own default is 80% of RAM). A load writes
#: one slice at a time, so a small pool costs little in speed; DuckDB spills beyond it, and
#: a load that still runs out of memory is retried with the cap doubled (MEMORY_RETRIES).
DEFAULT_DUCKDB_MEMORY_LIMIT = "32MB"
#: How many times a load that ran out of memory is retried, each time with twice the cap.
MEMORY_RETRIES = 3
#: Caps below this run DuckDB on one thread: every thread converts its own chunk of Parquet
#: into JSON columns, and two threads do not fit a 32 MB pool with 50k-row slices.
SINGLE_THREAD_BELOW = 256 * 1024 * 1024
_MEMORY_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$",
                          re.IGNORECASE)
_UNITS = {"B": 1, "KB": 1000, "MB": 1000**2, "GB": 1000**3, "TB": 1000**4,
          "KIB": 1024, "MIB": 1024**2, "GIB": 1024**3, "TIB": 1024**4}
log = logging.getLogger("ingest.load.run")  # shown by --verbose
ALL_RESOURCES = ("team", "channels", "users", "channel_members", "messages")


@dataclass(frozen=True)
class Target:
    """Where a load writes."""

    destination: str = "duckdb"
    duckdb_path: str = DEFAULT_DUCKDB_PATH
    dataset: str = DEFAULT_DATASET
    pipelines_dir: str | None = None
    duckdb_memory_limit: str = DEFAULT_DUCKDB_MEMORY_LIMIT
    #: DuckDB's checkpoint compaction (vacuum: merging small or partly deleted row groups).
    #: `run_load` turns it off for an initial backfill (see `initial_backfill`).
    duckdb_compaction: bool = True

    def location(self) -> str:
        if self.destination == "duckdb":
            return str(Path(self.duckdb_path).expanduser().resolve())
        return self.destination

    def pipeline_name(self, shard: str | None = None) -> str:
        key = f"{self.destination}|{self.location()}|{self.dataset}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        name = f"slack_{self.dataset}_{digest}"
        return f"{name}_{shard}" if shard else name


def check_target(target: Target) -> Target:
    """Validate a target up front (one-line ConfigError on a user mistake)."""
    destination = make_destination(target)
    if target.destination == "duckdb":
        path = Path(target.location())
        parent = path.parent
        if path.exists() and path.is_dir():
            raise ConfigError(f"DuckDB path {target.duckdb_path} is a directory")
        if not parent.exists():
            raise ConfigError(f"DuckDB path {target.duckdb_path}: folder {parent} does not exist")
        if not parent.is_dir():
            raise ConfigError(f"DuckDB path {target.duckdb_path}: {parent} is a file, not a folder")
        if path.is_file() and path.stat().st_size > 0 and not _is_duckdb_file(path):
            raise ConfigError(f"DuckDB path {target.duckdb_path} exists and is not a DuckDB "
                              "database")
        if path.stem == target.dataset:
            raise ConfigError(
                f"DuckDB file {path.name} has the same name as the dataset {target.dataset!r}; "
                "DuckDB cannot tell them apart: rename the file or pass --dataset")
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise ConfigError(f"DuckDB path {target.duckdb_path} is not writable")
    limit = target.duckdb_memory_limit
    if limit.lower() != "default" and memory_size_bytes(limit) is None:
        raise ConfigError(f"duckdb_memory_limit {limit!r} must be a size such as 64MB or 1GB "
                          "(or 'default' for DuckDB's own, 80% of RAM)")
    if not target.dataset.replace("_", "").isalnum():
        raise ConfigError(f"dataset name {target.dataset!r} must be letters, digits and _")
    if target.destination != "duckdb":  # (DuckDB's credentials are the path checked above)
        check_credentials(destination, target.pipeline_name())
    return target


def check_credentials(destination: Any, pipeline_name: str) -> None:
    """ConfigError if dlt cannot find the destination's credentials (BigQuery without a
    service account, ...): found here, not after the extract, when the load step starts.
    Resolves the configuration as the load will (same providers, the pipeline's section);
    never shows a value. Any other configuration problem is left to the load to report."""
    from dlt.common.configuration import inject_section
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

    try:
        with inject_section(ConfigSectionContext(pipeline_name=pipeline_name,
                                                 sections=("load",))):
            destination.configuration(destination.spec())
    except ConfigFieldMissingException as exc:
        if "credentials" not in exc.fields:
            return
        raise missing_credentials(destination.destination_name,
                                  destination.destination_type) from None
    except Exception:  # noqa: BLE001 - not ours to judge here: the load reports it
        return


def missing_credentials(name: str, destination_type: str) -> ConfigError:
    """The one line for a destination whose credentials dlt cannot find."""
    where = (f"[destination.{name}.credentials] of .dlt/secrets.toml or the "
             f"DESTINATION__{name.upper()}__CREDENTIALS__* environment variables")
    if destination_type.rsplit(".", 1)[-1] == "bigquery":
        return ConfigError(
            f"BigQuery credentials are missing or incomplete: set project_id, private_key and "
            f"client_email in {where}, or point GOOGLE_APPLICATION_CREDENTIALS at a service "
            "account key file")
    return ConfigError(f"credentials for destination {name} are missing or incomplete: set "
                       f"them in {where}")


def _is_duckdb_file(path: Path) -> bool:
    """DuckDB files carry the magic bytes DUCK at offset 8."""
    with path.open("rb") as f:
        head = f.read(12)
    return head[8:12] == b"DUCK"


def make_destination(target: Target) -> Any:
    if target.destination == "duckdb":
        return dlt.destinations.duckdb(credentials=duckdb_credentials(target))
    try:
        return Destination.from_reference(target.destination)
    except Exception:
        raise ConfigError(
            f"unknown destination {target.destination!r}: use duckdb, bigquery or another dlt "
            "destination name"
        ) from None


def memory_size_bytes(limit: str) -> int | None:
    """Bytes of a DuckDB memory size such as 32MB or 1GiB (DuckDB's units: MB = 1000^2);
    None for 'default' or anything else."""
    match = _MEMORY_SIZE.match(limit)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def duckdb_credentials(target: Target) -> Any:
    """DuckDB opened for a bounded-memory load: the buffer pool capped at the target's
    limit, one thread under a lean cap, insertion order not preserved (lets inserts
    stream instead of buffering), and no checkpoint compaction where the target says so."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    config: dict[str, Any] = {"preserve_insertion_order": False}
    if not target.duckdb_compaction:
        config["max_vacuum_tasks"] = 0
    limit = memory_size_bytes(target.duckdb_memory_limit)
    if limit is not None:
        config["memory_limit"] = target.duckdb_memory_limit.replace(" ", "")
        if limit < SINGLE_THREAD_BELOW:
            config["threads"] = 1
    return DuckDbCredentials(target.location(), global_config=config)


def raised_memory_limit(target: Target, exc: BaseException, retries_left: int
                        ) -> Target | None:
    """The target with twice the DuckDB memory cap, if `exc` is DuckDB running out of memory
    under a cap and retries are left; else None."""
    limit = memory_size_bytes(target.duckdb_memory_limit)
    if (target.destination != "duckdb" or limit is None or retries_left <= 0
            or not is_out_of_memory(exc)):
        return None
    doubled = 2 * limit
    size = f"{doubled // 1000**2}MB" if doubled % 1000**2 == 0 else f"{doubled // 1000}KB"
    return replace(target, duckdb_memory_limit=size)


def log_and_note(logger: logging.Logger, level: int, text: str,
                 progress: LoadProgress | None) -> None:
    """A line for --verbose and for the run's summary (its progress notes)."""
    logger.log(level, text)
    if progress is not None:
        progress.note(text)


def load_with_memory_retries(pipeline: dlt.Pipeline, target: Target,
                             progress: LoadProgress | None = None, **load_kwargs: Any
                             ) -> tuple[Any, Target]:
    """pipeline.load(); when DuckDB runs out of memory under its cap, load the same package
    again (dlt keeps it, with the jobs that completed) with the cap doubled, at most
    MEMORY_RETRIES times. Returns the load info and the target the load succeeded with:
    the raised cap stays for the rest of the run."""
    retries_left = MEMORY_RETRIES
    while True:
        try:
            return pipeline.load(**load_kwargs), target
        except Exception as exc:
            raised = raised_memory_limit(target, exc, retries_left)
            if raised is None:
                raise
            log_and_note(log, logging.INFO,
                         f"DuckDB ran out of memory at {target.duckdb_memory_limit}: loading "
                         f"again at {raised.duckdb_memory_limit}", progress)
            retries_left -= 1
            target = raised
            load_kwargs = {**load_kwargs, "destination": make_destination(target)}


def load_options(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """(extract kwargs, load kwargs) for the destination. DuckDB: every table as Parquet
    (dlt's default for DuckDB is INSERT statements, which DuckDB parses in memory: 70+ MB
    for the users of a mid-size workspace). One load worker would save ~50 MB more on the
    first slice, but dlt then does not stop on Ctrl-C during a load (it hangs)."""
    if target.destination == "duckdb":
        return {"loader_file_format": "parquet"}, {}
    return {}, {}


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


def duckdb_file_missing(target: Target) -> bool:
    """A DuckDB target whose file does not exist yet: nothing was committed to it, and
    opening it to ask would create it."""
    return target.destination == "duckdb" and not Path(target.location()).is_file()


def sync_with_destination(pipeline: dlt.Pipeline, target: Target,
                          progress: LoadProgress | None = None) -> None:
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

        log_and_note(log, logging.WARNING,
                     f"state not synced with the destination ({explain(exc)[1]})", progress)


def initial_backfill(pipeline: dlt.Pipeline, target: Target,
                     seed_states: dict[str, dict[str, Any]] | None) -> bool:
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


def apply_destination_hints(source: Any, target: Target) -> Any:
    if target.destination == "bigquery":
        from dlt.destinations.adapters import bigquery_adapter

        bigquery_adapter(source.resources["messages"], partition="ts_at", cluster=["channel_id"])
    return source


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
        }


def describe_target(target: Target) -> str:
    """Where a load writes, for a one-line message: the DuckDB file as given, or the dataset."""
    if target.destination == "duckdb":
        return target.duckdb_path
    return f"dataset {target.dataset} ({target.destination})"


def _attach_kept(exc: BaseException, progress: LoadProgress, target: Target,
                 loading: bool) -> None:
    """Tell the failure line what this run committed (`ingest.load.explain.kept_of` reads it)."""
    kept = progress.kept_summary(describe_target(target))
    if loading:
        kept += "; the slice being loaded is kept and the next run loads it"
    try:
        exc.ingest_kept = kept  # type: ignore[attr-defined]
    except (AttributeError, TypeError):  # an exception type without a __dict__
        pass


def run_load(token: str, settings: LoadSettings, target: Target, *,
             progress: LoadProgress | None = None, channel_ids: list[str] | None = None,
             resources: tuple[str, ...] = ALL_RESOURCES, shard: str | None = None,
             load_lock: Callable[[], AbstractContextManager[Any]] | None = None,
             seed_states: dict[str, dict[str, Any]] | None = None,
             ) -> LoadResult:
    """Extract, normalize and load one Slack load into the target.

    `load_lock` wraps only the load step (DuckDB has one writer: parallel shards extract
    and normalize in parallel and take turns loading). `seed_states` are per-channel states
    from other pipelines of the same dataset (a changed shard count moves channels between
    pipelines; the most advanced state wins, so nothing is reloaded)."""
    progress = progress or LoadProgress()
    lock = load_lock or nullcontext
    tune_process_memory()
    extract_options, load_kwargs = load_options(target)
    started = time.monotonic()
    pipeline = make_pipeline(target, shard)
    pending = False
    with lock():
        # packages a failed run kept go first (they carry their state; syncing with a
        # destination they never reached would wipe them), then the committed state
        if pipeline.has_pending_data:
            pending = finish_pending(pipeline, target, **load_kwargs)
        sync_with_destination(pipeline, target, progress)
    if initial_backfill(pipeline, target, seed_states):
        target = replace(target, duckdb_compaction=False)
        load_kwargs = {**load_kwargs, "destination": make_destination(target)}
    settings = settings.validate()
    ctx = SlackContext(check_token(token), settings, progress)
    stream = MessageStream()
    counts: dict[str, int] = {}
    load_ids: list[str] = []
    deleted = 0
    include = resources
    loading = False
    try:
        if "messages" in include:
            start_history(pipeline, ctx, stream, channel_ids, seed_states)
        # Slices: each extract ends at a channel checkpoint after ~slice_rows rows or
        # ~slice_seconds of fetching and is loaded with the state it reached, so a killed
        # run resumes near where it stopped. A failed fan-out ends its slice where it failed:
        # that slice is loaded too, then the failure is raised (every rerun keeps something).
        while True:
            source = make_source(token, settings, progress=progress, channel_ids=channel_ids,
                                 include=include, seed_states=seed_states, stream=stream,
                                 context=ctx)
            apply_destination_hints(source, target)
            pipeline.extract(source, **extract_options)
            trim_heap()  # the fetch's pages are gone: give their memory back before loading
            norm = pipeline.normalize()
            with lock():
                loading = True
                info, target = load_with_memory_retries(pipeline, target, progress,
                                                        **load_kwargs)
                loading = False
                deleted += reconcile(pipeline, stream.take_reconciliations())
            load_ids.extend(info.loads_ids)
            rows = {k: int(v) for k, v in norm.row_counts.items() if not k.startswith("_dlt")}
            for k, v in rows.items():
                counts[k] = counts.get(k, 0) + v
            progress.committed(rows, stream.slice_channels)
            trim_heap()
            if stream.failure is not None:
                raise stream.failure
            if "messages" not in include or stream.finished:
                break
            include = ("messages",)
        if ctx.failures:  # a metadata resource gave up; everything else is loaded
            raise ctx.failures[0]
    except BaseException as exc:
        _attach_kept(exc, progress, target, loading)
        raise
    finally:
        stream.close()
    return LoadResult(
        pipeline_name=pipeline.pipeline_name,
        elapsed_s=time.monotonic() - started,
        progress=progress.snapshot(),
        requests=progress.request_stats(),
        row_counts=counts,
        finished_pending=pending,
        load_ids=load_ids,
        marked_deleted=deleted,
    )
