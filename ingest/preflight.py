"""Checks before a load starts, so mistakes fail in a second with one clear line:
the token works (auth.test), the base URL answers, and named channels exist."""

from __future__ import annotations

from typing import Any

from ingest.source.fanout import client_for, run_async
from ingest.source.resources import list_channels
from ingest.source.selection import plan_channels
from ingest.source.settings import LoadSettings


def preflight(token: str, settings: LoadSettings) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        async with client_for(token, settings) as client:
            info: dict[str, Any] = {"team_id": client.team_id}
            if settings.channels or settings.exclude_channels:
                plan_channels(await list_channels(client, settings), settings)
            return info

    return run_async(check)
