"""The `reactions` table: one row per (channel_id, ts, name, user), written by `messages`.

Messages keep Slack's `reactions` JSON column; this table makes "who reacted with what" a
join instead of JSON parsing, on both paths (Arrow on the fast path, dicts on the
relational one). `count` is Slack's count of the reaction: Slack may truncate `users` for
large counts, so a reaction can have fewer rows than its count (and none when Slack lists
no users at all; the `reactions` JSON column of `messages` still has it).

Exact when a message is re-read (lookback, rescan, the listener's changes): every message
of a slice writes its reactions with delete-insert keyed by the message (`merge_key`
`(channel_id, ts)`), so a re-read message's rows are replaced by what Slack shows now; a
message with no reactions sends a clear marker (`ingest/source/variants.py`) so its old
rows are deleted too. Each message appears once per slice (`slices._Batch`), so the
package is de-duplicated by construction.

What is re-read decides what is current: Slack has no "reactions changed since", so a
reaction added or removed on a message is seen when that message is read again: top-level
messages inside the lookback (every run), replies when their thread is re-read (a new or
deleted reply, a rescan of a thread whose replies moved). A reaction changed on a reply of
an otherwise unchanged thread, or on a message older than the lookback, waits until then.

Deleted messages: their reactions are **removed** (Slack drops them with the message).
`reconcile` marks a message `is_deleted` and calls `drop_reactions` in the same place,
with the same ts (and a deleted thread parent's replies); a message that reappears is
re-read and its reactions come back with it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import dlt
import pyarrow as pa
from dlt.sources import DltResource

from ingest.source.arrow import TS_TYPE, ts_datetime_or_none, ts_micros_or_none
from ingest.source.variants import CLEAR_COLUMN, clear_marker, declare_variant

TABLE = "reactions"
PRIMARY_KEY = ("channel_id", "ts", "name", "user")
#: the message: its reactions are replaced together
MERGE_KEY = ("channel_id", "ts")

COLUMNS: dict[str, dict[str, Any]] = {
    "channel_id": {"data_type": "text", "nullable": False},
    "ts": {"data_type": "text", "nullable": False},
    "name": {"data_type": "text", "nullable": False},
    "user": {"data_type": "text", "nullable": False},
    "thread_ts": {"data_type": "text", "nullable": True},
    "ts_at": {"data_type": "timestamp", "nullable": True},
    "count": {"data_type": "bigint", "nullable": True},
}

SCHEMA = pa.schema(
    [
        pa.field("channel_id", pa.string(), nullable=False),
        pa.field("ts", pa.string(), nullable=False),
        pa.field("name", pa.string(), nullable=False),
        pa.field("user", pa.string(), nullable=False),
        pa.field("thread_ts", pa.string()),
        pa.field("ts_at", TS_TYPE),
        pa.field("count", pa.int64()),
        pa.field(CLEAR_COLUMN, pa.bool_()),
    ]
)


def declare_reactions(messages: DltResource) -> DltResource:
    """Let the messages resource write the reactions table."""
    return declare_variant(
        messages,
        TABLE,
        primary_key=PRIMARY_KEY,
        merge_key=MERGE_KEY,
        columns=COLUMNS,
        deduplicated=True,
    )


def _count(reaction: dict[str, Any], users: list[str]) -> int:
    count = reaction.get("count")
    if isinstance(count, int) and not isinstance(count, bool):
        return count
    return len(users)


def reaction_rows(messages: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows of the reactions table for raw messages (each with `channel_id`), `ts_at` as
    microseconds; a message without reactions gives its clear marker."""
    out: list[dict[str, Any]] = []
    for msg in messages:
        key = {
            "channel_id": msg["channel_id"],
            "ts": msg["ts"],
            "thread_ts": msg.get("thread_ts"),
            "ts_at": ts_micros_or_none(msg["ts"]),
        }
        rows: dict[tuple[str, str], dict[str, Any]] = {}
        reactions = msg.get("reactions")
        for reaction in reactions if isinstance(reactions, list) else []:
            if not isinstance(reaction, dict) or not isinstance(reaction.get("name"), str):
                continue
            users = [u for u in reaction.get("users") or [] if isinstance(u, str)]
            count = _count(reaction, users)
            for user in users:
                rows.setdefault(
                    (reaction["name"], user),
                    {**key, "name": reaction["name"], "user": user, "count": count},
                )
        if rows:
            out.extend(rows.values())
        else:
            out.append(clear_marker(key, ("name", "user")))
    return out


def reactions_item(messages: list[dict[str, Any]], *, fast: bool) -> Any:
    """The reactions of a batch of raw messages as one dlt item for the reactions table:
    an Arrow table (fast path) or dicts (relational path)."""
    rows = reaction_rows(messages)
    if fast:
        cols = {name: [r.get(name) for r in rows] for name in SCHEMA.names}
        item: Any = pa.Table.from_arrays(
            [pa.array(cols[n], type=SCHEMA.field(n).type) for n in SCHEMA.names], schema=SCHEMA
        )
    else:
        item = [{**r, "ts_at": ts_datetime_or_none(r["ts"])} for r in rows]
    return dlt.mark.with_table_name(item, TABLE)


def drop_reactions(client: Any, channel_sql: str, ts_sql: str, *, with_threads: bool) -> None:
    """Delete the reactions of deleted messages (`reconcile` calls it where it marks them):
    `channel_sql` / `ts_sql` are the channel literal and the list of ts literals it
    already checked; `with_threads` also deletes those of a deleted parent's replies."""
    table = client.make_qualified_table_name(TABLE)
    which = f"ts in ({ts_sql})"
    if with_threads:
        which += f" or thread_ts in ({ts_sql})"
    client.execute_sql(f"delete from {table} where channel_id = {channel_sql} and ({which})")
