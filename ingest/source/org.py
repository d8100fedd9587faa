"""Enterprise Grid: the workspaces of an org-wide token, which workspace loads a channel
shared between several of them, and the `team_id` every row carries.

An org-wide token lists its workspaces with `auth.teams.list`; each workspace is then loaded
as its own load (`--team`, sent as `team_id`; its own per-method budgets). Slack's ids are
unique across an org (a channel, user, file or user group has one id in every workspace
that sees it), so the tables' keys stay unique across workspaces; a channel shared between
workspaces of the load is read by one of them only (`owner_team`), so its messages are
fetched once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import pyarrow as pa

from ingest.source.connect import client_for, run_async
from ingest.source.selection import ChannelPlan
from ingest.source.settings import ConfigError, LoadSettings

#: The column every table gets: the workspace a row was loaded through.
TEAM_COLUMN = "team_id"


@dataclass(frozen=True)
class Org:
    """An org-wide token's org: its id and the workspaces (id, name) it is installed in."""

    enterprise_id: str
    name: str
    teams: tuple[tuple[str, str], ...]

    @property
    def team_ids(self) -> tuple[str, ...]:
        return tuple(t for t, _ in self.teams)

    def select(self, wanted: Sequence[str]) -> tuple[str, ...]:
        """The workspaces a load covers: `wanted` (`--team`, checked), or all of them."""
        if not wanted:
            return self.team_ids
        unknown = [t for t in wanted if t not in self.team_ids]
        if unknown:
            known = ", ".join(f"{t} ({n})" for t, n in self.teams) or "none"
            raise ConfigError(
                f"--team {', '.join(unknown)}: not a workspace of org {self.name} "
                f"({self.enterprise_id}); its workspaces: {known}"
            )
        return tuple(dict.fromkeys(wanted))


async def org_of_client(client: Any) -> Org | None:
    """The org of an open client's token (its auth.test answer), or None."""
    auth = client.auth or {}
    if not auth.get("is_enterprise_install"):
        return None
    teams: list[tuple[str, str]] = []
    async for page in client.paginate("auth.teams.list"):
        teams.extend((str(t["id"]), str(t.get("name") or "")) for t in page.get("teams") or [])
    return Org(
        enterprise_id=str(auth.get("enterprise_id") or auth.get("team_id") or ""),
        name=str(auth.get("team") or ""),
        teams=tuple(sorted(dict(teams).items())),
    )


def discover_org(token: str, settings: LoadSettings) -> Org | None:
    """The org of an org-wide (Enterprise Grid) token, or None for a workspace token."""

    async def go() -> Org | None:
        async with client_for(token, settings.replace(team_ids=())) as client:
            return await org_of_client(client)

    return run_async(go)


def owner_team(channel: dict[str, Any], org_teams: Iterable[str]) -> str | None:
    """The workspace of the load that reads a shared channel: its host when the host is
    loaded, else the first (by id) loaded workspace it is shared with; None when it is
    not shared with another workspace of the load (whoever lists it reads it)."""
    teams = set(org_teams)
    host = channel.get("conversation_host_id")
    if host in teams:
        return str(host)
    shared = sorted(t for t in channel.get("shared_team_ids") or () if t in teams)
    return shared[0] if shared else None


def drop_owned_elsewhere(plan: ChannelPlan, team: str | None, org_teams: Sequence[str]) -> int:
    """Remove from `plan` the channels another workspace of this org load reads (in place);
    returns how many."""
    if not team or len(org_teams) < 2:
        return 0

    def here(ch: dict[str, Any]) -> bool:
        owner = owner_team(ch, org_teams)
        return owner is None or owner == team

    gone = {c["id"] for c in plan.selected if not here(c)}
    if gone:
        plan.selected = [c for c in plan.selected if c["id"] not in gone]
        plan.readable = [c for c in plan.readable if c["id"] not in gone]
        plan.to_join = [c for c in plan.to_join if c["id"] not in gone]
        for cid in gone:
            plan.skipped.pop(cid, None)
    return len(gone)


def stamp_team(team: Callable[[], str | None]) -> Callable[[Any], Any]:
    """A dlt map step adding `team_id` to every row: dicts, lists of dicts, Arrow tables.
    `team` is asked once, at the first row (a workspace token's team comes from auth.test)."""
    box: list[str | None] = []

    def stamp(item: Any) -> Any:
        if not box:
            box.append(team())
        value = box[0]
        if value is None:
            return item
        if isinstance(item, pa.Table):
            if TEAM_COLUMN in item.column_names:
                return item
            return item.append_column(
                TEAM_COLUMN, pa.array([value] * item.num_rows, type=pa.string())
            )
        if isinstance(item, dict):
            item.setdefault(TEAM_COLUMN, value)
        elif isinstance(item, list):
            for row in item:
                if isinstance(row, dict):
                    row.setdefault(TEAM_COLUMN, value)
        return item

    return stamp
