"""Slack's every-field sample message loads into DuckDB without error or loss, on the fast
(Arrow + JSON columns) path and on dlt's relational path."""

from __future__ import annotations

import json

import dlt
import duckdb
import orjson

from ingest.source.arrow import COLUMN_HINTS, message_to_row, messages_to_arrow
from ingest.source.resources import MAX_TABLE_NESTING
from tests.conftest import SAMPLES


def _sample() -> dict:
    msg = json.loads((SAMPLES / "conversations.history.json").read_text())
    m = dict(msg["messages"][0])
    m.update(channel_id="C0SAMPLE1", ts="1700000000.000100", thread_ts="1700000000.000100")
    return m


def _pipeline(tmp_path, name):
    return dlt.pipeline(
        name,
        destination=dlt.destinations.duckdb(str(tmp_path / f"{name}.duckdb")),
        dataset_name="sample",
        pipelines_dir=str(tmp_path / "pl"),
    )


def test_fast_path_round_trip(tmp_path):
    original = _sample()

    @dlt.resource(
        name="messages",
        primary_key=("channel_id", "ts"),
        write_disposition="merge",
        columns=COLUMN_HINTS,
    )
    def messages():
        yield messages_to_arrow([dict(original)])

    p = _pipeline(tmp_path, "fast")
    p.run(messages())
    con = duckdb.connect(str(tmp_path / "fast.duckdb"), read_only=True)
    cur = con.execute("select * from sample.messages")
    names = [d[0] for d in cur.description]
    rows = cur.fetchall()
    assert len(rows) == 1
    rec = dict(zip(names, rows[0], strict=True))
    derived = {"channel_id", "ts_at", "is_reply", "edited_ts", "extra", "is_deleted", "deleted_at"}
    rebuilt: dict = {}
    for name, value in rec.items():
        if name.startswith("_dlt") or name in derived or value is None:
            continue
        if name in COLUMN_HINTS and COLUMN_HINTS[name].get("data_type") == "json":
            value = orjson.loads(value) if isinstance(value, str) else value
        rebuilt[name] = value
    rebuilt.update(orjson.loads(rec["extra"]) if rec["extra"] else {})
    expected = {k: v for k, v in original.items() if k != "channel_id" and v is not None}
    assert rebuilt == expected


def test_relational_path_loads_sample(tmp_path):
    original = _sample()

    @dlt.resource(
        name="messages",
        primary_key=("channel_id", "ts"),
        write_disposition="merge",
        max_table_nesting=MAX_TABLE_NESTING,
    )
    def messages():
        yield message_to_row(dict(original))

    p = _pipeline(tmp_path, "rel")
    p.run(messages())
    con = duckdb.connect(str(tmp_path / "rel.duckdb"), read_only=True)
    assert con.execute("select ts, text from sample.messages").fetchall() == [
        ("1700000000.000100", original["text"])
    ]
    children = {
        r[0]
        for r in con.execute(
            "select table_name from information_schema.tables where table_schema='sample'"
        ).fetchall()
    }
    # lists became child tables, e.g. reactions, files, blocks; nesting stays bounded
    for child in ("messages__reactions", "messages__files", "messages__blocks"):
        assert child in children, children
    assert len(children) < 40, sorted(children)
