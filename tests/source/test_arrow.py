"""The fast path keeps every field of Slack's richest message shape."""

import json

import orjson

from ingest.source.arrow import SCHEMA, message_to_row, messages_to_arrow
from tests.conftest import SAMPLES


def _sample_messages():
    msgs = []
    for name in ("conversations.history.json", "conversations.replies.json"):
        msgs.extend(json.loads((SAMPLES / name).read_text())["messages"])
    return msgs


def test_sample_message_round_trips_without_loss():
    msgs = _sample_messages()
    assert msgs, f"slack samples not found at {SAMPLES}"
    rows = [dict(m, channel_id="C1", ts="1700000000.000100") for m in msgs]
    table = messages_to_arrow(rows)
    assert table.num_rows == len(rows)
    assert table.schema == SCHEMA
    for i, original in enumerate(rows):
        rec = {k: v[i] for k, v in table.to_pydict().items()}
        rebuilt = {}
        for name, value in rec.items():
            if value is None or name in (
                "channel_id",
                "ts_at",
                "is_reply",
                "edited_ts",
                "extra",
                "is_deleted",
                "deleted_at",
            ):
                continue
            f = SCHEMA.field(name)
            if str(f.type) == "string" and name in original and not isinstance(original[name], str):
                rebuilt[name] = orjson.loads(value)
            else:
                rebuilt[name] = value
        if rec["extra"]:
            rebuilt.update(orjson.loads(rec["extra"]))
        expected = {k: v for k, v in original.items() if k != "channel_id" and v is not None}
        assert rebuilt == expected


def test_ts_kept_exactly_and_derived_timestamp_exact():
    rows = [
        {
            "channel_id": "C1",
            "ts": "1700000000.000100",
            "thread_ts": "1699999999.999999",
            "text": "hi",
            "reply_count": 2,
        }
    ]
    table = messages_to_arrow(rows)
    assert table.column("ts")[0].as_py() == "1700000000.000100"
    assert table.column("ts_at")[0].value == 1700000000000100
    assert table.column("is_reply")[0].as_py() is True
    row = message_to_row(rows[0])
    assert row["ts_at"].timestamp() * 1_000_000 // 1 == 1700000000000100
    assert row["ts_at"].microsecond == 100
