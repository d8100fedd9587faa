"""Slack messages -> Arrow tables (the fast path).

dlt's row-by-row normalizer dominates the default path (~75% of the time on Slack-like
messages). Arrow tables skip it: known scalar fields become typed columns, known nested
fields become JSON columns, and any key we do not know goes into `extra` (JSON), so a
message carrying every field Slack has ever sent loads without loss.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pyarrow as pa

from ingest.source.settings import ts_to_micros

STRING_FIELDS = (
    "type",
    "subtype",
    "user",
    "bot_id",
    "app_id",
    "team",
    "text",
    "client_msg_id",
    "latest_reply",
    "parent_user_id",
    "username",
    "inviter",
    "topic",
    "purpose",
)
INT_FIELDS = ("reply_count", "reply_users_count")
BOOL_FIELDS = ("is_locked", "subscribed", "display_as_bot", "upload")
JSON_FIELDS = (
    "reactions",
    "files",
    "attachments",
    "blocks",
    "root",
    "edited",
    "bot_profile",
    "icons",
    "metadata",
    "reply_users",
    "pinned_to",
    "x_files",
    "assistant_app_thread",
)
KEY_FIELDS = ("channel_id", "ts", "thread_ts")
_KNOWN = frozenset(KEY_FIELDS + STRING_FIELDS + INT_FIELDS + BOOL_FIELDS + JSON_FIELDS)

TS_TYPE = pa.timestamp("us", tz="UTC")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

SCHEMA = pa.schema(
    [
        pa.field("channel_id", pa.string(), nullable=False),
        pa.field("ts", pa.string(), nullable=False),
    ]
    + [
        pa.field("thread_ts", pa.string()),
        pa.field("ts_at", TS_TYPE),
        pa.field("is_reply", pa.bool_()),
        pa.field("edited_ts", pa.string()),
        pa.field("edited_at", TS_TYPE),
        pa.field("latest_reply_at", TS_TYPE),
        pa.field("is_deleted", pa.bool_()),
        pa.field("deleted_at", TS_TYPE),
    ]
    + [pa.field(f, pa.string()) for f in STRING_FIELDS]
    + [pa.field(f, pa.int64()) for f in INT_FIELDS]
    + [pa.field(f, pa.bool_()) for f in BOOL_FIELDS]
    + [pa.field(f, pa.string()) for f in JSON_FIELDS]
    + [pa.field("extra", pa.string())]
)

# dlt column hints: JSON columns are stored as JSON (duckdb JSON, BigQuery JSON).
# `is_deleted`/`deleted_at` are set by deletion reconciliation (ingest/source/reconcile.py).
COLUMN_HINTS: dict[str, dict[str, Any]] = {
    **{f: {"data_type": "json", "nullable": True} for f in (*JSON_FIELDS, "extra")},
    "ts_at": {"data_type": "timestamp", "nullable": True},
    "edited_at": {"data_type": "timestamp", "nullable": True},
    "latest_reply_at": {"data_type": "timestamp", "nullable": True},
    "is_deleted": {"data_type": "bool", "nullable": True},
    "deleted_at": {"data_type": "timestamp", "nullable": True},
    "channel_id": {"data_type": "text", "nullable": False},
    "ts": {"data_type": "text", "nullable": False},
}


def ts_micros_or_none(ts: Any) -> int | None:
    """A Slack ts string -> microseconds; None for a missing, malformed or zero ts (an
    emptied thread's `latest_reply` is "0000000000.000000")."""
    if not isinstance(ts, str):
        return None
    try:
        micros = ts_to_micros(ts)
    except ValueError:
        return None
    return micros or None


def ts_datetime_or_none(ts: Any) -> datetime | None:
    micros = ts_micros_or_none(ts)
    return None if micros is None else _EPOCH + timedelta(microseconds=micros)


def _edited_ts(msg: dict[str, Any]) -> str | None:
    edited = msg.get("edited")
    ts = edited.get("ts") if isinstance(edited, dict) else None
    return ts if isinstance(ts, str) else None


def _dumps(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def is_reply(msg: dict[str, Any]) -> bool:
    thread_ts = msg.get("thread_ts")
    return thread_ts is not None and thread_ts != msg.get("ts")


def messages_to_arrow(rows: Iterable[dict[str, Any]]) -> pa.Table:
    """Rows are Slack message dicts with `channel_id` added."""
    cols: dict[str, list[Any]] = {name: [] for name in SCHEMA.names}
    for msg in rows:
        ts = msg["ts"]
        cols["channel_id"].append(msg["channel_id"])
        cols["ts"].append(ts)
        cols["thread_ts"].append(msg.get("thread_ts"))
        cols["ts_at"].append(ts_to_micros(ts))
        cols["is_reply"].append(is_reply(msg))
        cols["is_deleted"].append(False)  # a row read from Slack exists now
        cols["deleted_at"].append(None)
        edited_ts = _edited_ts(msg)
        cols["edited_ts"].append(edited_ts)
        cols["edited_at"].append(ts_micros_or_none(edited_ts))
        cols["latest_reply_at"].append(ts_micros_or_none(msg.get("latest_reply")))
        for f in STRING_FIELDS:
            v = msg.get(f)
            cols[f].append(v if v is None or isinstance(v, str) else orjson.dumps(v).decode())
        for f in INT_FIELDS:
            v = msg.get(f)
            cols[f].append(v if isinstance(v, int) and not isinstance(v, bool) else None)
        for f in BOOL_FIELDS:
            v = msg.get(f)
            cols[f].append(v if isinstance(v, bool) else None)
        for f in JSON_FIELDS:
            cols[f].append(_dumps(msg.get(f)))
        extra = {k: v for k, v in msg.items() if k not in _KNOWN}
        cols["extra"].append(_dumps(extra) if extra else None)
    arrays = [pa.array(cols[name], type=SCHEMA.field(name).type) for name in SCHEMA.names]
    return pa.Table.from_arrays(arrays, schema=SCHEMA)


def message_to_row(msg: dict[str, Any]) -> dict[str, Any]:
    """The default (relational) path: the message dict plus derived columns; dlt's
    normalizer unnests lists into child tables (messages__reactions, ...)."""
    row = dict(msg)
    row["ts_at"] = _EPOCH + timedelta(microseconds=ts_to_micros(msg["ts"]))
    row["edited_at"] = ts_datetime_or_none(_edited_ts(msg))
    row["latest_reply_at"] = ts_datetime_or_none(msg.get("latest_reply"))
    row["is_reply"] = is_reply(msg)
    row["is_deleted"] = False
    return row
