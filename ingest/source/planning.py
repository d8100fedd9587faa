"""Listing and planning the channels of a load: the one entry the pipeline, the preflight
check and the flows use (`plan_channels`), over the pure selection in selection.py."""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, overload

from ingest.slack import AsyncSlackClient, SlackResourceError
from ingest.source.connect import client_for, run_async
from ingest.source.progress import LoadProgress
from ingest.source.selection import ChannelPlan, plan_from_list
from ingest.source.settings import LoadSettings

CHANNEL_TYPES = "public_channel,private_channel"


async def list_channels(client: Any, settings: LoadSettings) -> list[dict[str, Any]]:
    """Every channel conversations.list shows the token, as the settings filter it."""
    types = CHANNEL_TYPES if settings.include_private else "public_channel"
    channels: list[dict[str, Any]] = []
    async for page in client.paginate(
        "conversations.list",
        types=types,
        exclude_archived="true" if settings.exclude_archived else "false",
    ):
        channels.extend(page.get("channels") or [])
    return channels


async def list_and_plan(
    client: AsyncSlackClient, settings: LoadSettings, *, join: bool = True
) -> ChannelPlan:
    """List the channels and plan the load; with `join`, join the public channels the plan
    says to (auto_join), moving them to `readable` (or to `skipped`, with why)."""
    plan = plan_from_list(await list_channels(client, settings), settings)
    if join:
        for ch in plan.to_join:
            try:
                await client.call("conversations.join", channel=ch["id"])
                ch["is_member"] = True
                plan.readable.append(ch)
            except SlackResourceError as exc:
                plan.skipped[ch["id"]] = f"auto-join failed: {exc.code}"
    plan.readable.sort(key=lambda c: c["id"])
    return plan


async def _plan_with_token(
    token: str, settings: LoadSettings, join: bool, progress: LoadProgress | None
) -> ChannelPlan:
    async with client_for(token, settings) as client:
        if progress is not None:
            progress.attach_stats(client.stats)
        return await list_and_plan(client, settings, join=join)


@overload
def plan_channels(
    source: str, settings: LoadSettings, *, join: bool = True, progress: LoadProgress | None = None
) -> ChannelPlan: ...
@overload
def plan_channels(
    source: AsyncSlackClient,
    settings: LoadSettings,
    *,
    join: bool = True,
    progress: LoadProgress | None = None,
) -> Coroutine[Any, Any, ChannelPlan]: ...
@overload
def plan_channels(
    source: list[dict[str, Any]],
    settings: LoadSettings,
    *,
    join: bool = True,
    progress: LoadProgress | None = None,
) -> ChannelPlan: ...
def plan_channels(
    source: str | AsyncSlackClient | list[dict[str, Any]],
    settings: LoadSettings,
    *,
    join: bool = True,
    progress: LoadProgress | None = None,
) -> ChannelPlan | Coroutine[Any, Any, ChannelPlan]:
    """The channels a load covers, listed from Slack and planned.

    - a token: lists (and joins, with `join` and auto_join) on a client of its own; sync,
      safe inside a running loop (`plan_channels(token, settings)`);
    - a client already open: a coroutine (`await plan_channels(client, settings)`);
    - a conversations.list result: plans it without calling Slack (`plan_from_list`; kept
      for callers that listed the channels themselves).
    """
    if isinstance(source, str):
        token = source
        return run_async(lambda: _plan_with_token(token, settings, join, progress))
    if isinstance(source, list):
        return plan_from_list(source, settings)
    return list_and_plan(source, settings, join=join)
