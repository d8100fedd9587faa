"""Which conversations a load covers: a pure function over conversations.list rows
(`plan_from_list`; planning.py lists them first).

Conversations are channels (public, private), DMs (`im`, ids `D...`) and group DMs
(`mpim`). Each kind has its own setting: `--no-private` is about private *channels* only;
DMs and group DMs, which Slack also marks `is_private`, follow `--dms` / `--group-dms`. A DM
or group DM conversations.list shows the token is one it is part of, so it is readable
(there is nothing to join).

Channels are always keyed by id. Names are accepted in selections (with or without '#';
group DMs by their `mpdm-...` name, DMs by id) and resolved here; an unknown name or id is a
user mistake (ConfigError).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ingest.source.settings import ConfigError, LoadSettings


@dataclass(frozen=True)
class DmKind:
    """What a DM type needs and which setting turns it off (policy as data)."""

    type: str  # conversations.list `types` value
    flag: str  # the CLI flag that leaves it out
    read_scope: str  # listing
    history_scope: str  # conversations.history / replies
    noun: str  # for lines a user reads


DM_KINDS: dict[str, DmKind] = {
    "im": DmKind("im", "--no-dms", "im:read", "im:history", "DMs"),
    "mpim": DmKind("mpim", "--no-group-dms", "mpim:read", "mpim:history", "group DMs"),
}


def conversation_types(settings: LoadSettings) -> list[str]:
    """conversations.list `types` for these settings, in Slack's usual order."""
    types = ["public_channel"]
    if settings.include_private:
        types.append("private_channel")
    if settings.include_dms:
        types.append("im")
    if settings.include_group_dms:
        types.append("mpim")
    return types


def dm_kind(ch: dict[str, Any]) -> str | None:
    """The DM type of a conversations.list row ("im" or "mpim"); None for a channel."""
    if ch.get("is_im"):
        return "im"
    if ch.get("is_mpim"):
        return "mpim"
    return None


def dm_history_lacking(needed: str | None) -> str | None:
    """Why a conversation is not read when its history answered missing_scope for a DM
    history scope (`needed`); None for any other scope (a mistake that fails the run)."""
    scopes = {s.strip() for s in (needed or "").split(",")}
    for kind in DM_KINDS.values():
        if kind.history_scope in scopes:
            return f"the token lacks {kind.history_scope} (add the scope, or pass {kind.flag})"
    return None


def _wanted(ch: dict[str, Any], settings: LoadSettings) -> bool:
    """Whether the settings include this kind of conversation (`--no-private` leaves out
    private channels, not group DMs; DMs have their own flags)."""
    kind = dm_kind(ch)
    if kind == "im":
        return settings.include_dms
    if kind == "mpim":
        return settings.include_group_dms
    return settings.include_private or not ch.get("is_private")


@dataclass
class ChannelPlan:
    selected: list[dict[str, Any]] = field(default_factory=list)  # channels table rows
    readable: list[dict[str, Any]] = field(default_factory=list)  # history will be read
    to_join: list[dict[str, Any]] = field(default_factory=list)  # public, not member, auto_join
    skipped: dict[str, str] = field(default_factory=dict)  # channel id -> why not read
    # lines for the run's summary (e.g. DMs left out because the token lacks a scope)
    notes: list[str] = field(default_factory=list)

    @property
    def readable_ids(self) -> list[str]:
        return [c["id"] for c in self.readable]


def _norm(ref: str) -> str:
    return ref.strip().lstrip("#").lower()


def _resolve(
    refs: Iterable[str], channels: list[dict[str, Any]], what: str, settings: LoadSettings
) -> set[str]:
    by_id = {c["id"]: c for c in channels}
    by_name = {str(c.get("name") or "").lower(): c for c in channels if c.get("name")}
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
        off = [k.flag for k in DM_KINDS.values() if k.type not in conversation_types(settings)]
        hint = f" (DMs are not listed with {' and '.join(off)})" if off else ""
        raise ConfigError(f"unknown channel(s) in {what}: {', '.join(sorted(unknown))}{hint}")
    return ids


def plan_from_list(channels: list[dict[str, Any]], settings: LoadSettings) -> ChannelPlan:
    """Select channels and decide, for each, whether its history is read."""
    include = (
        _resolve(settings.channels, channels, "channels", settings) if settings.channels else None
    )
    exclude = _resolve(settings.exclude_channels, channels, "exclude_channels", settings)
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
        if not _wanted(ch, settings):
            continue
        if ch.get("is_archived") and settings.exclude_archived:
            continue
        plan.selected.append(ch)
        # a DM is listed only to its parties (an im carries no is_member): readable
        if ch.get("is_member") or dm_kind(ch) is not None:
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
    """'#name (C123)' for lines a user reads, 'DM with U123 (D123)' for a DM, 'group DM
    mpdm-a--b-1 (G123)'; the id alone when the name is unknown."""
    name = str(ch.get("name") or "").strip()
    kind = dm_kind(ch)
    if kind == "im":
        other = str(ch.get("user") or "").strip()
        return f"DM with {other} ({ch['id']})" if other else f"DM {ch['id']}"
    if kind == "mpim":
        return f"group DM {name} ({ch['id']})" if name else f"group DM {ch['id']}"
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
        elif not _wanted(ch, settings):
            kind = DM_KINDS.get(dm_kind(ch) or "")
            reason = (
                f"{kind.noun} are excluded ({kind.flag})"
                if kind is not None
                else "private channels are excluded (--no-private)"
            )
        else:
            reason = "archived channels are excluded (--exclude-archived)"
        why.append(f"{channel_label(ch)}: {reason}")
    raise ConfigError(
        "none of the channels asked for can be read: "
        + "; ".join(why)
        + " (invite the bot, or pass --auto-join for public channels)"
    )
