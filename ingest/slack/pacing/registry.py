"""The process-wide buckets: one per (workspace key, method), whichever thread asks."""

from __future__ import annotations

import logging
import threading
import time

from ingest.slack.limits import Budget
from ingest.slack.pacing.bucket import Bucket, Clock

__all__ = ["get_bucket", "registered_buckets", "reset_buckets"]

logger = logging.getLogger("ingest.slack")

_REGISTRY: dict[tuple[str, str], Bucket] = {}
_REGISTRY_LOCK = threading.Lock()


def get_bucket(
    workspace_key: str,
    method: str,
    budget: Budget,
    time_scale: float = 1.0,
    *,
    clock: Clock | None = None,
) -> Bucket:
    """The process-wide bucket for ``(workspace_key, method)``, created on first use.

    Any thread gets the same object for the same key. If a later caller asks with a different
    budget or time scale, the bucket is reconfigured in place (latest configuration wins; the
    schedule and any block are kept) since Slack's budget is one per workspace and method.
    """
    key = (workspace_key, method)
    with _REGISTRY_LOCK:
        bucket = _REGISTRY.get(key)
        if bucket is None:
            bucket = Bucket(
                budget,
                time_scale,
                clock=clock or time.monotonic,
                name=f"{method}@{workspace_key}",
            )
            _REGISTRY[key] = bucket
            return bucket
    if bucket.budget != budget or bucket.time_scale != float(time_scale):
        logger.info(
            "slack budget %s reconfigured: %s at time_scale %s", bucket.name, budget, time_scale
        )
        bucket.configure(budget, time_scale)
    return bucket


def registered_buckets() -> dict[tuple[str, str], Bucket]:
    """A copy of the registry (for stats and tests)."""
    with _REGISTRY_LOCK:
        return dict(_REGISTRY)


def reset_buckets() -> None:
    """Forget every bucket (tests; a new process starts empty anyway)."""
    with _REGISTRY_LOCK:
        _REGISTRY.clear()
