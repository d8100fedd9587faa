"""Analyst-ready types and the schema reference: typed time columns equal Slack's epoch
values, no staging copy or child tables are left, docs/SCHEMA.md is what a load produces,
and a dataset an older version loaded is upgraded in place."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pytest

from ingest.load.run import make_pipeline
from ingest.load.schema_doc import DOC_PATH, loaded_tables, render, undocumented
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import assert_matches_truth, load, query


@pytest.fixture(scope="module")
def demo_tables(tmp_path_factory):
    """The dlt schema of the demo's workspace, loaded as `python -m ingest.load.schema_doc`
    loads it, and the DuckDB file it went to."""
    workdir = tmp_path_factory.mktemp("schema")
    return loaded_tables(workdir), workdir / "schema.duckdb"


def test_schema_doc_is_what_a_load_produces(demo_tables):
    tables, _ = demo_tables
    assert undocumented(tables) == [], "columns without a meaning in schema_meanings.py"
    assert DOC_PATH.read_text() == render(tables), (
        "docs/SCHEMA.md differs from the loaded schema: run python -m ingest.load.schema_doc"
    )


def _types(db: Path, table: str) -> dict[str, str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute(
            "select column_name, data_type from information_schema.columns "
            "where table_schema = 'slack' and table_name = ?",
            [table],
        ).fetchall()
    finally:
        con.close()
    return dict(rows)


def test_time_columns_are_timestamps_and_no_staging_copy_or_child_tables(demo_tables):
    tables, db = demo_tables
    ts = "TIMESTAMP WITH TIME ZONE"
    channels, users, messages = _types(db, "channels"), _types(db, "users"), _types(db, "messages")
    for col in ("created", "updated", "topic__last_set", "purpose__last_set"):
        assert channels[col] == ts, col
    for col in ("updated", "profile__status_expiration"):
        assert users[col] == ts, col
    for col in ("ts_at", "edited_at", "latest_reply_at", "deleted_at"):
        assert messages[col] == ts, col
    assert channels["is_archived"] == "BOOLEAN" and messages["is_reply"] == "BOOLEAN"
    assert channels["shared_team_ids"] == "JSON" and users["profile__fields"] == "JSON"
    # exact ts strings stay where they are keys and cursors
    assert messages["ts"] == messages["thread_ts"] == messages["latest_reply"] == "VARCHAR"
    data_tables = {t for t in tables if not t.startswith("_dlt")}
    assert data_tables == {
        "team",
        "channels",
        "users",
        "channel_members",
        "messages",
        "reactions",
        "files",
        "file_shares",
        "usergroups",
        "usergroup_members",
    }

    con = duckdb.connect(str(db), read_only=True)
    try:
        staged = con.execute(
            "select table_name from information_schema.tables where table_schema = 'slack_staging'"
        ).fetchall()
        assert staged, "a merge load goes through slack_staging"
        for (name,) in staged:
            if not name.startswith("_dlt"):
                n = con.execute(f'select count(*) from slack_staging."{name}"').fetchone()[0]
                assert n == 0, f"slack_staging.{name} keeps {n} rows after the merge"
    finally:
        con.close()


def test_typed_values_equal_slacks(target):
    ws = Workspace.generate(size="tiny", seed=5)
    with SimulatorThread(ws, profile="unlimited") as sim:
        cid = next(iter(ws.truth().readable_channel_ids))
        parent = ws.channels_by_id[cid]
        ws.edit_message(cid, _a_top_level(sim, target, cid), "edited for the typed column")
        load(sim, target)
    created = {r[0]: r[1] for r in query(target, "select id, created from slack.channels")}
    assert created[cid] == datetime.fromtimestamp(parent.created, tz=UTC)
    updated = {r[0]: r[1] for r in query(target, "select id, updated from slack.channels")}
    assert updated[cid] == datetime.fromtimestamp((parent.created * 1000 + 123) / 1000, tz=UTC)
    users = dict(query(target, "select id, updated from slack.users"))
    for u in ws.users:
        want = datetime.fromtimestamp(u.updated, tz=UTC) if u.updated > 0 else None
        assert users[u.id] == want, u.id
    # *_at columns are the exact microseconds of their ts strings
    bad = query(
        target,
        "select count(*) from slack.messages where "
        f"ts_at <> {_at('ts')} "
        "or (edited_ts is null) <> (edited_at is null) "
        f"or edited_at <> {_at('edited_ts')} "
        f"or latest_reply_at <> {_at('latest_reply')}",
    )
    assert bad == [(0,)]
    assert query(target, "select count(*) from slack.messages where edited_at is not null")[0][0]


def _at(col: str) -> str:
    """SQL: the exact timestamp of a ts string column."""
    return (
        "(timestamptz '1970-01-01 00:00:00+00' + "
        f"to_microseconds(cast(replace({col}, '.', '') as bigint)))"
    )


def _a_top_level(sim, target, cid: str) -> str:
    load(sim, target)
    rows = query(
        target,
        f"select ts from slack.messages where channel_id = '{cid}' and thread_ts is null "
        "and subtype is null order by ts limit 1",
    )
    return rows[0][0]


def _make_old(db: str) -> None:
    """Turn a dataset into what slack-ingest loaded before typed columns: epoch BIGINTs in
    channels and users (and their staging copies), no edited_at/latest_reply_at."""
    con = duckdb.connect(db)
    try:
        for schema in ("slack", "slack_staging"):
            for table, cols in {
                "channels": {"created": 1, "updated": 1000},
                "users": {"updated": 1},
            }.items():
                for col, mult in cols.items():
                    con.execute(
                        f'alter table {schema}."{table}" alter "{col}" type bigint using '
                        f'cast(epoch("{col}") * {mult} as bigint)'
                    )
        con.execute("alter table slack.messages drop column edited_at")
        con.execute("alter table slack.messages drop column latest_reply_at")
    finally:
        con.close()


def test_a_dataset_loaded_before_typed_columns_is_upgraded_in_place(target):
    ws = Workspace.generate(size="tiny", seed=9)
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target)
        _make_old(target.location())
        types = _types(Path(target.location()), "channels")
        assert types["created"] == "BIGINT"
        cid = next(iter(ws.truth().readable_channel_ids))
        result = load(sim, target)
        assert any("upgraded dataset 'slack'" in n for n in result.progress["notes"])
        assert_matches_truth(target, ws.truth())
        # a second run has nothing to upgrade
        again = load(sim, target)
        assert not any("upgraded" in n for n in again.progress["notes"])
    assert _types(Path(target.location()), "channels")["created"] == "TIMESTAMP WITH TIME ZONE"
    created = dict(query(target, "select id, created from slack.channels"))
    assert created[cid] == datetime.fromtimestamp(ws.channels_by_id[cid].created, tz=UTC)
    bad = query(
        target,
        "select count(*) from slack.messages where "
        "(latest_reply is not null and latest_reply <> '0000000000.000000') "
        "<> (latest_reply_at is not null) "
        f"or latest_reply_at <> {_at('latest_reply')}",
    )
    assert bad == [(0,)]
    pipeline = make_pipeline(target)
    assert pipeline.default_schema.tables["channels"]["columns"]["created"]["data_type"] == (
        "timestamp"
    )
