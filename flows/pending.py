"""The dataset's pipelines: finish or drop what earlier runs left, and seed shard states.

Each shard is its own dlt pipeline (`<base>_shard<i>of<n>`), all writing one dataset. When
the shard count changes a channel moves to another pipeline; so before shards run, the
per-channel states of *every* slack pipeline of the dataset are read from the destination
and handed to the shards as seeds (`ingest/load/dataset_states.py`, shared with the plain
`run`).

Pending packages (extracted or normalized, not loaded: a crash, a locked DuckDB, a
destination outage) are loaded before anything new is read; one that cannot be loaded for
a terminal reason is aborted deliberately: dlt restores the local state to before it, so
the next extract fetches the same data again (nothing lost).
"""

from __future__ import annotations

import logging
import os
from contextlib import nullcontext
from typing import Any

import dlt

from ingest.load.dataset_states import Lock
from ingest.load.destinations import make_destination
from ingest.load.run import finish_pending
from ingest.load.target import Target

logger = logging.getLogger("flows.pending")


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
    return sorted(
        n for n in os.listdir(root) if n.startswith(base) and os.path.isdir(os.path.join(root, n))
    )


def _attach(target: Target, name: str) -> dlt.Pipeline:
    kwargs: dict[str, Any] = {"pipelines_dir": target.pipelines_dir} if target.pipelines_dir else {}
    return dlt.pipeline(
        pipeline_name=name,
        destination=make_destination(target),
        dataset_name=target.dataset,
        **kwargs,
    )


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


def settle_pending(
    target: Target, names: list[str] | None = None, lock: Lock | None = None
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
                from ingest.load.explain import explain

                why = explain(exc)[1]
                pipeline.abort_packages()
                logger.warning(
                    "pipeline %s: dropped pending packages that cannot be loaded "
                    "(%s); their data is extracted again",
                    name,
                    why,
                )
                done[name] = f"dropped pending packages: {why}"
    return done
