"""Upgrading a dataset loaded by an older slack-ingest to the typed columns.

Before typed columns (`ingest/source/columns.py`), `channels.created`, `users.updated`, ...
were epoch BIGINTs, and dlt never changes an existing column's type: the first load of
timestamps into them fails on a cast. `upgrade_dataset` runs before a run extracts:

- an epoch column of `channels` or `users` is dropped and added again as a timestamp.
  Both tables are re-read in full and merged on every run, so the load that follows fills
  it again (until then it is null);
- `messages` gets `edited_at` and `latest_reply_at`, filled from the exact `edited_ts` /
  `latest_reply` strings already loaded (rows loaded later carry them anyway).

It looks at the destination's own tables (INFORMATION_SCHEMA, through dlt's job client), not
dlt's schema, so it is idempotent and right whichever pipeline wrote the dataset. DuckDB
and BigQuery are handled; another destination gets a note saying what was not upgraded.
"""

from __future__ import annotations

import logging
from typing import Any

import dlt

from ingest.source import CHANNEL_HINTS, USER_HINTS

log = logging.getLogger(__name__)

RETYPED: dict[str, tuple[str, ...]] = {
    "channels": tuple(c for c, h in CHANNEL_HINTS.items() if h["data_type"] == "timestamp"),
    "users": tuple(c for c, h in USER_HINTS.items() if h["data_type"] == "timestamp"),
}
#: new typed message column -> the exact ts string column it is derived from
MESSAGE_TIMES = {"edited_at": ("edited_ts", "edited__ts"), "latest_reply_at": ("latest_reply",)}

_TIMESTAMP = {"duckdb": "TIMESTAMP WITH TIME ZONE", "bigquery": "TIMESTAMP"}


def _micros_sql(dialect: str, column: str) -> str:
    """Exact microseconds of a 'seconds.micros' ts string column as a timestamp, 0 -> null."""
    if dialect == "bigquery":
        return f"TIMESTAMP_MICROS(NULLIF(CAST(REPLACE({column}, '.', '') AS INT64), 0))"
    return (
        "TIMESTAMPTZ '1970-01-01 00:00:00+00' + "
        f"to_microseconds(NULLIF(CAST(replace({column}, '.', '') AS BIGINT), 0))"
    )


def _plan(
    existing: dict[str, dict[str, Any]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(table, column) pairs to retype, and (new column, source column) of messages to add."""
    retype = [
        (table, col)
        for table, cols in RETYPED.items()
        for col in cols
        if col in existing.get(table, {})
        and existing[table][col].get("data_type") not in ("timestamp", None)
    ]
    add: list[tuple[str, str]] = []
    messages = existing.get("messages", {})
    if messages:
        for new, sources in MESSAGE_TIMES.items():
            src = next((s for s in sources if s in messages), None)
            if new not in messages and src is not None:
                add.append((new, src))
    return retype, add


def _upgrade(client: Any, dialect: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """Upgrade the tables of the dataset `client` points at; returns what it did."""
    existing = {
        name: cols
        for name, cols in client.get_storage_tables(["channels", "users", "messages"])
        if cols
    }
    retype, add = _plan(existing)
    if dialect not in _TIMESTAMP or not (retype or add):
        return retype, add
    ts_type = _TIMESTAMP[dialect]
    sql = client.sql_client
    for table, col in retype:
        qt, qc = sql.make_qualified_table_name(table), sql.escape_column_name(col)
        sql.execute_sql(f"ALTER TABLE {qt} DROP COLUMN {qc}")
        sql.execute_sql(f"ALTER TABLE {qt} ADD COLUMN {qc} {ts_type}")
    if add:
        qt = sql.make_qualified_table_name("messages")
        for new, _ in add:
            sql.execute_sql(f"ALTER TABLE {qt} ADD COLUMN {sql.escape_column_name(new)} {ts_type}")
        sets = ", ".join(
            f"{sql.escape_column_name(new)} = {_micros_sql(dialect, sql.escape_column_name(src))}"
            for new, src in add
        )
        where = " OR ".join(f"{sql.escape_column_name(src)} IS NOT NULL" for _, src in add)
        sql.execute_sql(f"UPDATE {qt} SET {sets} WHERE {where}")
    return retype, add


def upgrade_dataset(pipeline: dlt.Pipeline) -> list[str]:
    """Bring the destination's tables (and dlt's staging copies a merge load goes through)
    to the typed columns; returns notes of what changed (empty when nothing needed it,
    which is every run after the first)."""
    dialect = pipeline.destination.destination_name
    with pipeline.destination_client() as client:
        if not hasattr(client, "get_storage_tables"):
            return []
        retype, add = _upgrade(client, dialect)
        if dialect in _TIMESTAMP and hasattr(client, "with_staging_dataset"):
            with client.with_staging_dataset():
                _upgrade(client, dialect)
    if not retype and not add:
        return []
    if dialect not in _TIMESTAMP:
        names = ", ".join([f"{t}.{c}" for t, c in retype] + [f"messages.{n}" for n, _ in add])
        return [
            f"dataset {pipeline.dataset_name!r} has columns from an older slack-ingest that "
            f"are not upgraded on {dialect} ({names}): load into a new dataset"
        ]
    notes = []
    if retype:
        cols = ", ".join(f"{t}.{c}" for t, c in retype)
        notes.append(
            f"upgraded dataset {pipeline.dataset_name!r}: {cols} are timestamps now "
            "(refilled by this run: channels and users are re-read in full)"
        )
    if add:
        notes.append(
            f"upgraded dataset {pipeline.dataset_name!r}: messages gained "
            + ", ".join(new for new, _ in add)
            + " (filled from the loaded ts strings)"
        )
    for note in notes:
        log.info(note)
    return notes
