"""Prefect concurrency limits the flow relies on, created or updated by the flow itself.

- tag `slack-history`: at most `max_concurrency` channel-history shard tasks of shard flow
  runs (`shard_deployment`) run at once, across every process and machine talking to the
  same Prefect server (the in-process flow bounds its shard tasks itself);
- `slack-ingest-duckdb-<hash>` (global, limit 1): one DuckDB file has one writer, so the
  load step of parallel shards takes turns while extraction and normalization stay
  parallel. Other destinations (BigQuery) load in parallel with no lock.

Every lock is taken with `strict=True`: a missing limit is an error, never a silent
"no limit".
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from ingest.load.target import Target

HISTORY_TAG = "slack-history"
LOAD_LOCK_PREFIX = "slack-ingest-duckdb-"
LOCK_LEASE_S = 120.0


def ensure_tag_limit(tag: str, limit: int) -> None:
    """Create or update a tag concurrency limit (the server upserts)."""
    from prefect.client.orchestration import get_client

    with get_client(sync_client=True) as client:
        client.create_concurrency_limit(tag=tag, concurrency_limit=int(limit))


def ensure_global_limit(name: str, limit: int, slot_decay_per_second: float | None = None) -> None:
    """Create or update a global concurrency limit. Prefect's upsert reads, then creates:
    two runs starting at once (a served flow and a worker's run firing on the same minute)
    both find none and the slower create fails with ObjectAlreadyExists; then it exists,
    and the upsert again updates it."""
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectAlreadyExists

    with get_client(sync_client=True) as client:
        try:
            client.upsert_global_concurrency_limit_by_name(
                name, int(limit), slot_decay_per_second=slot_decay_per_second
            )
        except ObjectAlreadyExists:
            client.upsert_global_concurrency_limit_by_name(
                name, int(limit), slot_decay_per_second=slot_decay_per_second
            )


def read_global_limit(name: str) -> Any | None:
    from prefect.client.orchestration import get_client
    from prefect.exceptions import ObjectNotFound

    with get_client(sync_client=True) as client:
        try:
            return client.read_global_concurrency_limit_by_name(name)
        except ObjectNotFound:
            return None


def load_lock_name(target: Target) -> str:
    digest = hashlib.sha256(target.location().encode()).hexdigest()[:12]
    return f"{LOAD_LOCK_PREFIX}{digest}"


def ensure_load_lock(target: Target) -> str | None:
    """Make sure the load lock of this target exists (limit 1); None when loads may run in
    parallel (any destination but DuckDB)."""
    if target.destination != "duckdb":
        return None
    name = load_lock_name(target)
    ensure_global_limit(name, 1)
    return name


_LOCAL: dict[str, threading.Lock] = {}
_HELD: dict[str, int] = {}
_LOCAL_GUARD = threading.Lock()


def _local_lock(name: str) -> threading.Lock:
    with _LOCAL_GUARD:
        return _LOCAL.setdefault(name, threading.Lock())


def _holds(name: str) -> bool:
    with _LOCAL_GUARD:
        return _HELD.get(name, 0) > 0


@contextmanager
def hold_writer(target: Target) -> Iterator[None]:
    """Make this process the DuckDB file's writer for a while (the in-process flow: one
    server round trip instead of one per load step); its threads still take turns on the
    local lock. A no-op for destinations without a load lock."""
    if target.destination != "duckdb":
        yield
        return
    name = load_lock_name(target)
    with _server_lock(name):
        with _LOCAL_GUARD:
            _HELD[name] = _HELD.get(name, 0) + 1
        try:
            yield
        finally:
            with _LOCAL_GUARD:
                _HELD[name] -= 1


@contextmanager
def _held(name: str) -> Iterator[None]:
    """Threads of one process queue on a local lock first, so only one of them at a time
    asks the server (no polling among siblings: the handover is immediate); the global
    limit (taken here, or held for the whole run by `hold_writer`) serializes writers
    across processes and machines."""
    with _local_lock(name):
        if _holds(name):
            yield
            return
        with _server_lock(name):
            yield


@contextmanager
def _server_lock(name: str) -> Iterator[None]:
    """The load lock's one slot on the Prefect server, leased (a crashed holder's lease
    expires) and not failing a load step when a renewal is missed."""
    from prefect.concurrency.sync import concurrency

    with concurrency(
        name,
        occupy=1,
        strict=True,
        lease_duration=LOCK_LEASE_S,
        raise_on_lease_renewal_failure=False,
    ):
        yield


def load_lock(target: Target) -> Callable[[], AbstractContextManager[Any]] | None:
    """The `load_lock` for `ingest.load.run.run_load`: the DuckDB writer lock, or None."""
    if target.destination != "duckdb":
        return None
    name = load_lock_name(target)
    return lambda: _held(name)
