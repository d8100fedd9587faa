"""What a rescan compares Slack's thread parents with: the threads the warehouse holds.

A rescan (`slack-ingest run --rescan`) re-reads every channel's whole history, but not
every thread: only those whose parent's `latest_reply`/`reply_count` differ from the
replies loaded (newest reply ts, count of rows not marked deleted). The pipeline state
tracks threads for the lookback only, so the comparison is with the destination itself:
one grouped query per run.
"""

from __future__ import annotations

import logging
from typing import Any

log = logging.getLogger("ingest.load.rescan")


def known_threads(pipeline: Any) -> dict[str, dict[str, list[Any]]]:
    """channel id -> parent ts -> [newest reply ts, replies] of the loaded, not deleted
    replies; {} when nothing was loaded yet."""
    query = (
        "select channel_id, thread_ts, max(ts), count(*) from {table} "
        "where thread_ts is not null and ts <> thread_ts "
        "and coalesce(is_deleted, false) = false group by channel_id, thread_ts"
    )
    out: dict[str, dict[str, list[Any]]] = {}
    try:
        with pipeline.sql_client() as client:
            table = client.make_qualified_table_name("messages")
            rows = client.execute_sql(query.format(table=table)) or []
    except Exception as exc:  # noqa: BLE001 - no table yet: nothing is known
        log.info("rescan: no loaded threads to compare with (%s)", type(exc).__name__)
        return out
    for cid, parent, newest, n in rows:
        out.setdefault(str(cid), {})[str(parent)] = [str(newest), int(n)]
    return out
