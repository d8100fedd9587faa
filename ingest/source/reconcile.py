"""Mark messages deleted in Slack: Slack has no tombstones, a deleted message just stops
being returned. When a load re-reads a window of history it loaded before (the lookback),
or re-reads a whole thread, every loaded row in that range that Slack no longer returns is
marked `is_deleted = true, deleted_at = <now>`; a row that reappears is unmarked by the
merge (every row read from Slack carries `is_deleted = false`). The reactions of a message
marked deleted are deleted from `reactions` (`ingest/source/reactions.py`).

Runs after the slice that read the window was loaded, in the destination, through dlt's
SQL client (DuckDB, BigQuery and other SQL destinations).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

from ingest.source.events import MarkDeleted, Reconcile
from ingest.source.reactions import TABLE as REACTIONS
from ingest.source.reactions import drop_reactions

_TS = re.compile(r"^\d{1,10}(\.\d{1,6})?$")
_ID = re.compile(r"^[A-Z0-9]{1,32}$")
CHUNK = 5000


def _lit(value: str, pattern: re.Pattern[str]) -> str:
    """Values are inlined as literals (portable across SQL dialects); only Slack-shaped
    ids and ts pass."""
    if not pattern.match(value):
        raise ValueError(f"refusing to use {value!r} in SQL")
    return f"'{value}'"


def _ts_key(ts: str) -> str:
    """Comparable form of a ts: Slack ts are 10 digits, a dot, 6 digits."""
    sec, _, frac = ts.partition(".")
    return f"{int(sec):010d}.{(frac + '000000')[:6]}"


def _mark(
    client: Any,
    table: str,
    cid: str,
    gone: list[str],
    *,
    with_threads: bool,
    reactions: bool = False,
) -> None:
    for i in range(0, len(gone), CHUNK):
        chunk = ", ".join(_lit(ts, _TS) for ts in gone[i : i + CHUNK])
        if reactions:  # a deleted message's reactions go with it (ingest/source/reactions.py)
            drop_reactions(client, _lit(cid, _ID), chunk, with_threads=with_threads)
        client.execute_sql(
            f"update {table} set is_deleted = true, deleted_at = current_timestamp "
            f"where channel_id = {_lit(cid, _ID)} and ts in ({chunk})"
        )
        if with_threads:
            # a deleted thread parent takes its replies with it
            client.execute_sql(
                f"update {table} set is_deleted = true, deleted_at = current_timestamp "
                f"where channel_id = {_lit(cid, _ID)} and thread_ts in ({chunk}) "
                "and coalesce(is_deleted, false) = false"
            )


def _mark_reported(client: Any, table: str, cid: str, ts: list[str], reactions: bool) -> int:
    """Mark messages Slack reported deleted (and a parent's replies); returns how many
    were not marked yet."""
    alive = "coalesce(is_deleted, false) = false"
    live: set[str] = set()
    for i in range(0, len(ts), CHUNK):
        chunk = ", ".join(_lit(t, _TS) for t in ts[i : i + CHUNK])
        rows = client.execute_sql(
            f"select ts from {table} where channel_id = {_lit(cid, _ID)} and {alive} "
            f"and ts in ({chunk})"
        )
        live.update(r[0] for r in rows or [])
    _mark(client, table, cid, sorted(set(ts)), with_threads=True, reactions=reactions)
    return len(live)


def reconcile(pipeline: Any, items: Iterable[Reconcile | MarkDeleted]) -> int:
    """Apply reconciliations and reported deletions; returns how many rows were newly
    marked deleted.

    Windows cost one query each (at most a couple per channel); whole-thread re-reads are
    grouped per channel, one query per chunk of threads (BigQuery bills per query)."""
    items = list(items)
    if not items:
        return 0
    marked = 0
    threads: dict[str, dict[str, set[str]]] = {}
    with pipeline.sql_client() as client:
        table = client.make_qualified_table_name("messages")
        alive = "coalesce(is_deleted, false) = false"
        reactions = bool(pipeline.default_schema.tables.get(REACTIONS, {}).get("columns"))
        for item in items:
            if isinstance(item, MarkDeleted):
                marked += _mark_reported(client, table, item.channel_id, item.ts, reactions)
                continue
            cid, lo, hi, existing = item.channel_id, item.lo, item.hi, item.existing
            if item.thread_ts is not None:
                threads.setdefault(cid, {})[item.thread_ts] = set(existing)
                continue
            assert hi is not None  # a window always has its upper bound
            where = [
                f"channel_id = {_lit(cid, _ID)}",
                alive,
                f"ts <= {_lit(_ts_key(hi), _TS)}",
                # top-level rows and broadcasts live in history; replies: per thread
                "(coalesce(is_reply, false) = false or subtype = 'thread_broadcast')",
            ]
            if lo is not None and lo != "0":
                where.append(f"ts > {_lit(_ts_key(lo), _TS)}")
            rows = client.execute_sql(f"select ts from {table} where {' and '.join(where)}") or []
            gone = sorted({r[0] for r in rows} - set(existing))
            _mark(client, table, cid, gone, with_threads=True, reactions=reactions)
            marked += len(gone)
        for cid, by_thread in threads.items():
            parents = sorted(by_thread)
            gone_all: list[str] = []
            for i in range(0, len(parents), CHUNK):
                chunk = ", ".join(_lit(ts, _TS) for ts in parents[i : i + CHUNK])
                rows = (
                    client.execute_sql(
                        f"select thread_ts, ts from {table} where channel_id = {_lit(cid, _ID)} "
                        f"and {alive} and thread_ts in ({chunk}) and ts <> thread_ts"
                    )
                    or []
                )
                gone_all.extend(ts for parent, ts in rows if ts not in by_thread[parent])
            _mark(
                client, table, cid, sorted(set(gone_all)), with_threads=False, reactions=reactions
            )
            marked += len(set(gone_all))
    return marked
