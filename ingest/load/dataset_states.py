"""Per-channel states committed by every slack pipeline of a dataset.

A dataset can be written by several dlt pipelines: the plain `slack-ingest run` pipeline
and the flow's shards (`<base>_shard<i>of<n>`). dlt commits each pipeline's state with its
data (`_dlt_pipeline_state`), so the destination holds every pipeline's cursors. Reading
them all before a load and keeping the most advanced state per channel (`merge_states`)
lets any pipeline continue where any other stopped: a changed shard count, or a plain run
after flow runs, neither reloads a channel's history nor loses anything.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any, cast

import dlt

from ingest.load.destinations import make_destination
from ingest.load.run import log_and_note
from ingest.load.target import Target, duckdb_file_missing
from ingest.source import channel_states_of, merge_states

if TYPE_CHECKING:
    from dlt.common.destination.client import WithStateSync

log = logging.getLogger("ingest.load.dataset_states")
Lock = Callable[[], AbstractContextManager[Any]]
STATE_TABLE = "_dlt_pipeline_state"


def dataset_pipeline_names(target: Target, sql_client: Any) -> list[str]:
    """Every slack pipeline of this target that committed state to the destination."""
    from dlt.common.destination.exceptions import DestinationUndefinedEntity

    table = sql_client.make_qualified_table_name(STATE_TABLE)
    try:
        rows = sql_client.execute_sql(f"select distinct pipeline_name from {table}")
    except DestinationUndefinedEntity:
        return []
    base = target.pipeline_name()
    return sorted(str(r[0]) for r in rows or [] if str(r[0]).startswith(base))


def collect_seed_states(
    target: Target, channel_ids: list[str] | None = None, lock: Lock | None = None
) -> dict[str, dict[str, Any]]:
    """Per channel, the most advanced state committed by any slack pipeline of the dataset
    ({} for a dataset nothing was loaded into yet)."""
    from dlt.common.destination.exceptions import DestinationUndefinedEntity
    from dlt.pipeline.state_sync import load_pipeline_state_from_destination

    if duckdb_file_missing(target):
        return {}
    seeds: dict[str, dict[str, Any]] = {}
    tmp = tempfile.mkdtemp(prefix="slack-ingest-probe-")
    try:
        probe = dlt.pipeline(
            pipeline_name=f"{target.pipeline_name()}_probe",
            pipelines_dir=tmp,
            destination=make_destination(target),
            dataset_name=target.dataset,
        )
        with (lock or nullcontext)():
            try:
                with probe.sql_client() as sql:
                    names = dataset_pipeline_names(target, sql)
                if not names:
                    return {}
                with probe.destination_client() as client:
                    for name in names:
                        state = load_pipeline_state_from_destination(
                            name, cast("WithStateSync", client)
                        )
                        seeds = merge_states(seeds, channel_states_of(cast(Any, state)))
            except DestinationUndefinedEntity:
                return {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if channel_ids is not None:
        wanted = set(channel_ids)
        seeds = {cid: s for cid, s in seeds.items() if cid in wanted}
    return seeds


def seed_states_if_readable(
    target: Target, progress: Any = None
) -> dict[str, dict[str, Any]] | None:
    """`collect_seed_states`, or None (with a note) when the destination cannot be read now
    (a DuckDB file locked by another process, an outage): the load then continues from its
    own pipeline's state, and the destination problem, if it lasts, is reported by the load
    step, which keeps the extracted package for the next run."""
    try:
        return collect_seed_states(target)
    except Exception as exc:  # noqa: BLE001 - an optimisation: never fail the run for it
        from ingest.load.explain import explain

        log_and_note(
            log,
            logging.WARNING,
            f"cursors of the dataset's other pipelines not read ({explain(exc)[1]}): "
            "continuing from this pipeline's own state",
            progress,
        )
        return None
