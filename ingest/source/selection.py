"""Which channels a load covers: a pure function over conversations.list rows.

Channels are always keyed by id. Names are accepted in selections (with or without '#')
and resolved here; an unknown name or id is a user mistake (ConfigError).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.source.settings import ConfigError, LoadSettings


@dataclass
class ChannelPlan:
    selected: list[dict[str, Any]] = field(default_factory=list)  # channels table rows
    readable: list[dict[str, Any]] = field(default_factory=list)  # history will be read
    to_join: list[dict[str, Any]] = field(default_factory=list)  # public, not member, auto_join
    skipped: dict[str, str] = field(default_factory=dict)  # channel id -> why not read

    @property
    def readable_ids(self) -> list[str]:
        return [c["id"] for c in self.readable]


def _norm(ref: str) -> str:
    return ref.strip().lstrip("#").lower()


def _resolve(refs: Iterable[str], channels: list[dict[str, Any]], what: str) -> set[str]:
    by_id = {c["id"]: c for c in channels}
    by_name = {str(c.get("name", "")).lower(): c for c in channels}
    ids: set[str] = set()
    unknown: list[str] = []
    for ref in refs:
        if not ref or not ref.strip():
            continue
        if ref.strip() in by_id:
            ids.add(ref.strip())
        elif _norm(ref) in by_name:
            ids.add(by_name[_norm(ref)]["id"])
        else:
            unknown.append(ref)
    if unknown:
        raise ConfigError(f"unknown channel(s) in {what}: {', '.join(sorted(unknown))}")
    return ids


def plan_channels(channels: list[dict[str, Any]], settings: LoadSettings) -> ChannelPlan:
    """Select channels and decide, for each, whether its history is read."""
    include = _resolve(settings.channels, channels, "channels") if settings.channels else None
    exclude = _resolve(settings.exclude_channels, channels, "exclude_channels")
    plan = ChannelPlan()
    for ch in sorted(channels, key=lambda c: c["id"]):
        cid = ch["id"]
        if include is not None and cid not in include:
            continue
        if cid in exclude:
            continue
        if ch.get("is_private") and not settings.include_private:
            continue
        if ch.get("is_archived") and settings.exclude_archived:
            continue
        plan.selected.append(ch)
        if ch.get("is_member"):
            plan.readable.append(ch)
        elif settings.auto_join and not ch.get("is_private") and not ch.get("is_archived"):
            plan.to_join.append(ch)
        else:
            plan.skipped[cid] = (
                "archived and the token is not a member"
                if ch.get("is_archived")
                else "the token is not a member (use --auto-join for public channels)"
            )
    return plan
