"""The dataset's pipelines: finish or drop what earlier runs left, and seed shard states.

Each shard is its own dlt pipeline (`<base>_shard<i>of<n>`), all writing one dataset. When
the shard count changes a channel moves to another pipeline; so before shards run, the
per-channel states of *every* slack pipeline of the dataset are read from the destination
(`_dlt_pipeline_state`, where dlt commits each pipeline's state with its data) and handed
to the shards as seeds. `merge_states` keeps the most advanced state per channel, so a
moved channel neither reloads its history nor loses anything.

Pending packages (extracted or normalized, not loaded: a crash, a locked DuckDB, a
destination outage) are loaded before anything new is read; one that cannot be loaded for
a terminal reason is aborted deliberately: dlt restores the local state to before it, so
the next extract fetches the same data again (nothing lost).
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from typing import Any

import dlt

from ingest.pipeline import Target, finish_pending, make_destination
from ingest.source.state import merge_states

logger = logging.getLogger("flows.state")
Lock = Callable[[], AbstractContextManager[Any]]
STATE_TABLE = "_dlt_pipeline_state"


def _pipelines_dir(target: Target) -> str:
    if target.pipelines_dir:
        return target.pipelines_dir
    from dlt.common.pipeline import get_dlt_pipelines_dir

    return get_dlt_pipelines_dir()


def local_pipeline_names(target: Target) -> list[str]:
    """Pipelines of this dataset with a working folder on this machine."""
    base = target.pipeline_name()
    root = _pipelines_dir(target)
    if not os.path.isdir(root):
        return []
    return sorted(n for n in os.listdir(root)
                  if n.startswith(base) and os.path.isdir(os.path.join(root, n)))


def _attach(target: Target, name: str) -> dlt.Pipeline:
    kwargs: dict[str, Any] = {"pipelines_dir": target.pipelines_dir} if target.pipelines_dir else {}
    return dlt.pipeline(pipeline_name=name, destination=make_destination(target),
                        dataset_name=target.dataset, **kwargs)


def _is_terminal(exc: BaseException) -> bool:
    from dlt.common.exceptions import TerminalException

    seen: set[int] = set()
    stack: list[BaseException] = [exc]
    while stack:
        e = stack.pop()
        if id(e) in seen:
            continue
        seen.add(id(e))
        text = str(e)
        if "Could not set lock on file" in text or "Conflicting lock" in text:
            return False  # another process holds the DuckDB file: retry later
        if isinstance(e, TerminalException):
            return True
        for nxt in (getattr(e, "exception", None), e.__cause__, e.__context__):
            if isinstance(nxt, BaseException):
                stack.append(nxt)
    return False


def settle_pending(target: Target, names: list[str] | None = None, lock: Lock | None = None
                   ) -> dict[str, str]:
    """Load the pending packages of the dataset's local pipelines (`names`, default all);
    abort those that fail for a terminal reason. Returns pipeline -> what was done."""
    done: dict[str, str] = {}
    for name in local_pipeline_names(target) if names is None else names:
        pipeline = _attach(target, name)
        if not pipeline.has_pending_data:
            continue
        with (lock or nullcontext)():
            try:
                finish_pending(pipeline, target)
                done[name] = "loaded pending packages"
            except Exception as exc:
                if not _is_terminal(exc):
                    raise
                from ingest.errors import explain

                why = explain(exc)[1]
                pipeline.abort_packages()
                logger.warning("pipeline %s: dropped pending packages that cannot be loaded "
                               "(%s); their data is extracted again", name, why)
                done[name] = f"dropped pending packages: {why}"
    return done


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


def channel_states_of(state: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    if not state:
        return {}
    res = state.get("sources", {}).get("slack", {}).get("resources", {})
    return dict(res.get("messages", {}).get("channels", {}) or {})


def collect_seed_states(target: Target, channel_ids: list[str] | None = None,
                        lock: Lock | None = None) -> dict[str, dict[str, Any]]:
    """Per channel, the most advanced state committed by any slack pipeline of the dataset."""
    from dlt.common.destination.exceptions import DestinationUndefinedEntity
    from dlt.pipeline.state_sync import load_pipeline_state_from_destination

    seeds: dict[str, dict[str, Any]] = {}
    tmp = tempfile.mkdtemp(prefix="slack-ingest-probe-")
    try:
        probe = dlt.pipeline(pipeline_name=f"{target.pipeline_name()}_probe", pipelines_dir=tmp,
                             destination=make_destination(target), dataset_name=target.dataset)
        with (lock or nullcontext)():
            try:
                with probe.sql_client() as sql:
                    names = dataset_pipeline_names(target, sql)
                if not names:
                    return {}
                with probe.destination_client() as client:
                    for name in names:
                        state = load_pipeline_state_from_destination(name, client)
                        seeds = merge_states(seeds, channel_states_of(state))
            except DestinationUndefinedEntity:
                return {}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if channel_ids is not None:
        wanted = set(channel_ids)
        seeds = {cid: s for cid, s in seeds.items() if cid in wanted}
    return seeds
