"""Which channels a load covers: a pure function over conversations.list rows
(`plan_from_list`; planning.py lists them first).

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


def plan_from_list(channels: list[dict[str, Any]], settings: LoadSettings) -> ChannelPlan:
    """Select channels and decide, for each, whether its history is read."""
    include = _resolve(settings.channels, channels, "channels") if settings.channels else None
    exclude = _resolve(settings.exclude_channels, channels, "exclude_channels")
    if include is not None and include & exclude:
        both = ", ".join(channel_label(c) for c in channels if c["id"] in include & exclude)
        raise ConfigError(
            f"channel(s) both selected and excluded: {both} (named in --channel / channels "
            "and in --exclude-channel / exclude_channels): keep each channel in one of them"
        )
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
    if include is not None and not plan.readable and not plan.to_join:
        _none_readable(plan, channels, include, settings)
    return plan


def channel_label(ch: dict[str, Any]) -> str:
    """'#name (C123)' for lines a user reads; the id alone when the name is unknown."""
    name = str(ch.get("name") or "").strip()
    return f"#{name} ({ch['id']})" if name else str(ch["id"])


def _none_readable(
    plan: ChannelPlan, channels: list[dict[str, Any]], include: set[str], settings: LoadSettings
) -> None:
    """Channels were asked for by name or id and none of them can be read: the load would
    do nothing, so it is a user mistake (exit 2), not an empty success."""
    by_id = {c["id"]: c for c in channels}
    why = []
    for cid in sorted(include):
        ch = by_id[cid]
        if cid in plan.skipped:
            reason = plan.skipped[cid].split(" (")[0]
        elif ch.get("is_private") and not settings.include_private:
            reason = "private channels are excluded (--no-private)"
        else:
            reason = "archived channels are excluded (--exclude-archived)"
        why.append(f"{channel_label(ch)}: {reason}")
    raise ConfigError(
        "none of the channels asked for can be read: "
        + "; ".join(why)
        + " (invite the bot, or pass --auto-join for public channels)"
    )
