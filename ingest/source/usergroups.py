"""The `usergroups` and `usergroup_members` tables, from `usergroups.list`.

One call (no paging) with `include_users`, `include_disabled` and `include_count`: every
group, disabled ones included (`date_delete` set), read in full each run and merged by
`id`. Times are UTC timestamps (0 -> null). `usergroup_members` is a variant of the
resource written with `merge_key = usergroup_id` (`ingest/source/variants.py`): a group
read replaces its member list, and an emptied group clears it. A group no longer listed at
all is left as it was (Slack lists disabled groups; deleted ones simply vanish).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.sources import DltResource

from ingest.source.columns import epoch_to_datetime
from ingest.source.connect import client_for
from ingest.source.context import SlackContext
from ingest.source.optional import read_optional
from ingest.source.variants import clear_marker, declare_variant

METHOD = "usergroups.list"
GROUP_TIMES = ("date_create", "date_update", "date_delete")
#: lists and objects kept as one JSON column each (the members are their own table)
GROUP_JSON = ("prefs", "users")
GROUP_HINTS: dict[str, dict[str, Any]] = {
    **{f: {"data_type": "timestamp", "nullable": True} for f in GROUP_TIMES},
    **{f: {"data_type": "json", "nullable": True} for f in GROUP_JSON},
    "id": {"data_type": "text", "nullable": False},
    # null unless set (auto_type: Slack's admin/owner groups; deleted_by: disabled ones)
    "auto_type": {"data_type": "text", "nullable": True},
    "deleted_by": {"data_type": "text", "nullable": True},
}

MEMBERS_TABLE = "usergroup_members"
MEMBER_HINTS: dict[str, dict[str, Any]] = {
    "usergroup_id": {"data_type": "text", "nullable": False},
    "user_id": {"data_type": "text", "nullable": False},
}


def group_row(group: dict[str, Any]) -> dict[str, Any]:
    row = dict(group)
    for key in GROUP_TIMES:
        if key in row:
            row[key] = epoch_to_datetime(row[key])
    return row


def member_rows(group: dict[str, Any]) -> list[dict[str, Any]]:
    """(usergroup_id, user_id) rows; an empty group gives its clear marker."""
    users = sorted({u for u in group.get("users") or [] if isinstance(u, str)})
    if not users:
        return [clear_marker({"usergroup_id": group["id"]}, ("user_id",))]
    return [{"usergroup_id": group["id"], "user_id": u} for u in users]


def _usergroups(ctx: SlackContext) -> Iterator[Any]:
    if not ctx.settings.include_usergroups:
        return

    async def fetch() -> list[dict[str, Any]]:
        async with client_for(ctx.token, ctx.settings) as client:
            ctx.progress.attach_stats(client.stats)
            data = await client.call(
                METHOD, include_users="true", include_disabled="true", include_count="true"
            )
            return [g for g in data.get("usergroups") or [] if isinstance(g, dict) and "id" in g]

    groups = read_optional(
        ctx,
        fetch,
        what="user groups",
        method=METHOD,
        scope="usergroups:read",
        flag="--no-usergroups",
    )
    if not groups:
        return
    yield [group_row(g) for g in groups]
    yield dlt.mark.with_table_name([r for g in groups for r in member_rows(g)], MEMBERS_TABLE)


def usergroups(ctx: SlackContext) -> DltResource:
    """The usergroups resource (it writes `usergroups` and `usergroup_members`)."""
    resource = dlt.resource(
        _usergroups,
        name="usergroups",
        primary_key="id",
        write_disposition="merge",
        columns=cast(dict[str, TColumnSchema], GROUP_HINTS),
    )(ctx)
    return declare_variant(
        resource,
        MEMBERS_TABLE,
        primary_key=("usergroup_id", "user_id"),
        merge_key=("usergroup_id",),
        columns=MEMBER_HINTS,
    )
