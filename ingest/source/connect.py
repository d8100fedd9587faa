"""Slack clients for a load, and running their coroutines from synchronous code."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ingest.slack import AsyncSlackClient, Limits
from ingest.source.settings import LoadSettings

T = TypeVar("T")
#: Longest single backoff between two attempts, in Slack seconds (a real Slack outage is
#: probed at least twice a minute; at time_scale 60 that is every 0.5 s).
BACKOFF_CAP_SLACK_S = 30.0


def client_for(token: str, settings: LoadSettings) -> AsyncSlackClient:
    """A client for this load. `budget_share` < 1 takes that share of every rate and burst
    (`Limits.scaled`): N processes on one token (workers on several machines) each take 1/N
    of Slack's budget. The retry budget and the backoff cap are Slack time: at time_scale 60
    a 10-minute budget lasts 10 s."""
    limits = Limits(settings.profile, settings.limits or {}, settings.time_scale)
    return AsyncSlackClient(
        token,
        base_url=settings.base_url,
        limits=limits.scaled(settings.budget_share),
        max_in_flight=settings.max_in_flight,
        max_retry_wait_s=limits.real_seconds(settings.max_retry_wait_s),
        backoff_cap_s=limits.real_seconds(BACKOFF_CAP_SLACK_S),
        team=team_of(settings),
    )


def team_of(settings: LoadSettings) -> str | None:
    """Enterprise Grid: the one workspace this load is for (`--team`), sent as `team_id` with
    every call of an org-wide token; None for a workspace token's own workspace."""
    return settings.team_ids[0] if len(settings.team_ids) == 1 else None


def run_async(factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run a coroutine to completion in a fresh thread and loop (safe inside a running loop,
    e.g. a Prefect async task), re-raising its exception here."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = asyncio.run(factory())
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            box["error"] = exc

    t = threading.Thread(target=target, name="slack-ingest-call", daemon=True)
    t.start()
    t.join()
    if "error" in box:
        raise box["error"]
    value: T = box["value"]
    return value
