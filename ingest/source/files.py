"""The `files` and `file_shares` tables: file metadata from `files.list` (never the bytes).

`files.list` pages the classic way (`count`, 1-based `page`, `paging.pages`), not with
cursors, so the pages are walked here, each through the client's `call` (paced by the
method's budget, retried). The metadata is small, so every run reads it in full and merges
it by `id`. A file no longer listed (deleted in Slack, or no longer visible to the token)
is left as it was: Slack gives no tombstone, and the table keeps what was last seen.
Page offsets shift when files are added during the walk: a file seen twice is kept once,
one pushed across a page boundary is picked up by the next run.

`file_shares` links a file to the messages it was shared in (`messages(channel_id, ts)`),
from the file's `shares` (`public` for public channels, `private` for private channels and
DMs). It is a variant of the `files` resource written with `merge_key = file_id`
(`ingest/source/variants.py`): a file read replaces its shares; a file with no shares left
clears them.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, cast

import dlt
from dlt.common.schema.typing import TColumnSchema
from dlt.sources import DltResource

from ingest.slack import AsyncSlackClient
from ingest.source.arrow import ts_datetime_or_none
from ingest.source.columns import epoch_to_datetime
from ingest.source.connect import client_for
from ingest.source.context import SlackContext
from ingest.source.optional import read_optional
from ingest.source.variants import clear_marker, declare_variant

METHOD = "files.list"
#: Safety net for a server whose `paging.pages` never ends.
MAX_PAGES = 100_000

FILE_TIMES = ("created", "timestamp")
#: nested fields kept as one JSON column each; other nested fields go to `extra`
FILE_JSON = ("channels", "groups", "ims", "shares", "pinned_to", "pinned_info", "reactions")
FILE_HINTS: dict[str, dict[str, Any]] = {
    **{f: {"data_type": "timestamp", "nullable": True} for f in FILE_TIMES},
    **{f: {"data_type": "json", "nullable": True} for f in (*FILE_JSON, "extra")},
    "id": {"data_type": "text", "nullable": False},
}

SHARES_TABLE = "file_shares"
SHARE_KEY = ("file_id", "channel_id", "ts")
SHARE_HINTS: dict[str, dict[str, Any]] = {
    "file_id": {"data_type": "text", "nullable": False},
    "channel_id": {"data_type": "text", "nullable": False},
    "ts": {"data_type": "text", "nullable": False},
    "ts_at": {"data_type": "timestamp", "nullable": True},
    "is_public": {"data_type": "bool", "nullable": True},
    "thread_ts": {"data_type": "text", "nullable": True},
    "channel_name": {"data_type": "text", "nullable": True},
    "share_user_id": {"data_type": "text", "nullable": True},
    "reply_count": {"data_type": "bigint", "nullable": True},
}


def file_row(f: dict[str, Any]) -> dict[str, Any]:
    """A files.list object as a row: times as UTC timestamps, nested fields as JSON."""
    row: dict[str, Any] = {}
    extra: dict[str, Any] = {}
    for key, value in f.items():
        if key in FILE_TIMES:
            row[key] = epoch_to_datetime(value)
        elif key in FILE_JSON or not isinstance(value, dict | list):
            row[key] = value
        else:
            extra[key] = value
    row["extra"] = extra or None
    return row


def share_rows(f: dict[str, Any]) -> list[dict[str, Any]]:
    """The messages a file was shared in; a file without shares gives its clear marker."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    shares = f.get("shares")
    for kind in ("public", "private"):
        by_channel = shares.get(kind) if isinstance(shares, dict) else None
        for cid, entries in (by_channel or {}).items():
            for share in entries if isinstance(entries, list) else []:
                ts = share.get("ts") if isinstance(share, dict) else None
                if not isinstance(ts, str):
                    continue
                rows.setdefault(
                    (cid, ts),
                    {
                        "file_id": f["id"],
                        "channel_id": cid,
                        "ts": ts,
                        "ts_at": ts_datetime_or_none(ts),
                        "is_public": kind == "public",
                        "thread_ts": share.get("thread_ts"),
                        "channel_name": share.get("channel_name"),
                        "share_user_id": share.get("share_user_id"),
                        "reply_count": share.get("reply_count"),
                    },
                )
    if rows:
        return list(rows.values())
    return [clear_marker({"file_id": f["id"]}, ("channel_id", "ts"))]


async def list_files(client: AsyncSlackClient) -> list[dict[str, Any]]:
    """Every file files.list shows the token, each once, walking `page` 1..`paging.pages`."""
    seen: dict[str, dict[str, Any]] = {}
    page = 1
    while page <= MAX_PAGES:
        data = await client.call(METHOD, count=client.page_size(METHOD), page=page)
        for f in data.get("files") or []:
            if isinstance(f, dict) and isinstance(f.get("id"), str):
                seen.setdefault(f["id"], f)
        paging = data.get("paging") or {}
        pages = paging.get("pages")
        if not isinstance(pages, int) or page >= pages:
            break
        page += 1
    return list(seen.values())


def _files(ctx: SlackContext) -> Iterator[Any]:
    if not ctx.settings.include_files:
        return

    async def fetch() -> list[dict[str, Any]]:
        async with client_for(ctx.token, ctx.settings) as client:
            ctx.progress.attach_stats(client.stats)
            return await list_files(client)

    found = read_optional(
        ctx, fetch, what="files", method=METHOD, scope="files:read", flag="--no-files"
    )
    if not found:
        return
    yield [file_row(f) for f in found]
    yield dlt.mark.with_table_name([r for f in found for r in share_rows(f)], SHARES_TABLE)


def files(ctx: SlackContext) -> DltResource:
    """The files resource (it writes `files` and `file_shares`)."""
    resource = dlt.resource(
        _files,
        name="files",
        primary_key="id",
        write_disposition="merge",
        columns=cast(dict[str, TColumnSchema], FILE_HINTS),
    )(ctx)
    return declare_variant(
        resource, SHARES_TABLE, primary_key=SHARE_KEY, merge_key=("file_id",), columns=SHARE_HINTS
    )
