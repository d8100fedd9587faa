"""Listing and planning the channels of a load: the one entry the pipeline, the preflight
check and the flows use (`plan_channels`), over the pure selection in selection.py.

DMs and group DMs come with the channels (`types=...,im,mpim`). A token without `im:read`
/ `mpim:read` still loads everything else: the list is read again without the types it
lacks, and the plan says so in one note. (A token that can list DMs but not read their
history, without `im:history` / `mpim:history`, gets each of them skipped with the reason
by the history fan-out, like any channel it cannot read: `selection.dm_history_lacking`.)
"""

from __future__ import annotations

from collections.abc import Coroutine
from typing import Any, overload

from ingest.slack import AsyncSlackClient, SlackMissingScopeError, SlackResourceError
from ingest.source.connect import client_for, run_async
from ingest.source.progress import LoadProgress
from ingest.source.selection import DM_KINDS, ChannelPlan, conversation_types, plan_from_list
from ingest.source.settings import LoadSettings


async def list_channels(
    client: Any, settings: LoadSettings, notes: list[str] | None = None
) -> list[dict[str, Any]]:
    """Every conversation conversations.list shows the token, of the types the settings
    include. DM types the token lacks the read scope for are left out (a line for each in
    `notes`); any other missing scope fails the listing."""
    types = conversation_types(settings)
    while True:
        try:
            return await _list(client, types, settings)
        except SlackMissingScopeError as exc:
            lacking = _lacking_dm_types(exc, types)
            if not lacking:
                raise
            for t in lacking:
                kind = DM_KINDS[t]
                types.remove(t)
                if notes is not None:
                    notes.append(
                        f"{kind.noun} skipped: the token lacks {kind.read_scope} "
                        f"(add the scope, or pass {kind.flag})"
                    )


async def _list(client: Any, types: list[str], settings: LoadSettings) -> list[dict[str, Any]]:
    channels: list[dict[str, Any]] = []
    async for page in client.paginate(
        "conversations.list",
        types=",".join(types),
        exclude_archived="true" if settings.exclude_archived else "false",
    ):
        channels.extend(page.get("channels") or [])
    return channels


def _scopes(text: str | None) -> set[str]:
    return {s.strip() for s in (text or "").split(",") if s.strip()}


def _lacking_dm_types(exc: SlackMissingScopeError, types: list[str]) -> list[str]:
    """The DM types of `types` whose read scope the token lacks: by the scopes it has
    (`provided`) when Slack says them, else by the ones it names as needed."""
    provided, needed = _scopes(exc.provided), _scopes(exc.needed)
    return [
        t
        for t in types
        if t in DM_KINDS
        and (
            DM_KINDS[t].read_scope not in provided if provided else DM_KINDS[t].read_scope in needed
        )
    ]


async def list_and_plan(
    client: AsyncSlackClient, settings: LoadSettings, *, join: bool = True
) -> ChannelPlan:
    """List the channels and plan the load; with `join`, join the public channels the plan
    says to (auto_join), moving them to `readable` (or to `skipped`, with why)."""
    notes: list[str] = []
    plan = plan_from_list(await list_channels(client, settings, notes), settings)
    plan.notes[:0] = notes
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
        plan = await list_and_plan(client, settings, join=join)
        if progress is not None:
            for text in plan.notes:
                if text not in progress.notes:  # a plan made again says it once
                    progress.note(text)
        return plan


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
