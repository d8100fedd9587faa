"""The analytics models computed again in Python from the simulator's own data, the model
tables read back from DuckDB, and an exact comparison of the two.

`expected_models` reads every live message the simulator serves (`Workspace.message` for
each key of `iter_message_keys`: the current text after edits, deletions left out) and
applies the models' definitions (ingest/analytics/dbt/models/schema.yml) with plain Python,
so a model and its check share no code.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from ingest.load.run import Target
from ingest.simulator import Workspace
from ingest.simulator.model import parse_ts
from tests.integration.helpers import query

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

#: The contract: each model's columns, in order, and its key columns.
COLUMNS: dict[str, tuple[str, ...]] = {
    "threads": (
        "channel_id",
        "channel_name",
        "thread_ts",
        "asker",
        "asker_name",
        "asked_at",
        "replies",
        "distinct_responders",
        "first_reply_at",
        "seconds_to_first_reply",
        "last_activity_at",
    ),
    "questions": (
        "channel_id",
        "channel_name",
        "ts",
        "asked_by",
        "asked_by_name",
        "asked_at",
        "text",
        "replies",
        "is_answered",
        "answered_by",
        "answered_by_name",
        "first_answer_at",
        "seconds_to_first_answer",
    ),
    "unanswered_questions": (
        "channel_id",
        "channel_name",
        "ts",
        "asked_by",
        "asked_by_name",
        "asked_at",
        "text",
        "replies",
    ),
    "channel_activity_daily": (
        "channel_id",
        "channel_name",
        "day",
        "messages",
        "top_level",
        "replies",
        "active_users",
    ),
    "user_activity_weekly": (
        "user_id",
        "user_name",
        "week",
        "messages",
        "threads_started",
        "replies",
        "questions_asked",
    ),
}
KEYS: dict[str, tuple[str, ...]] = {
    "threads": ("channel_id", "thread_ts"),
    "questions": ("channel_id", "ts"),
    "unanswered_questions": ("channel_id", "ts"),
    "channel_activity_daily": ("channel_id", "day"),
    "user_activity_weekly": ("user_id", "week"),
}
#: DuckDB types of the columns that are not text.
TYPES: dict[str, dict[str, str]] = {
    "threads": {
        "asked_at": "TIMESTAMP WITH TIME ZONE",
        "replies": "BIGINT",
        "distinct_responders": "BIGINT",
        "first_reply_at": "TIMESTAMP WITH TIME ZONE",
        "seconds_to_first_reply": "DOUBLE",
        "last_activity_at": "TIMESTAMP WITH TIME ZONE",
    },
    "questions": {
        "asked_at": "TIMESTAMP WITH TIME ZONE",
        "replies": "BIGINT",
        "is_answered": "BOOLEAN",
        "first_answer_at": "TIMESTAMP WITH TIME ZONE",
        "seconds_to_first_answer": "DOUBLE",
    },
    "unanswered_questions": {"asked_at": "TIMESTAMP WITH TIME ZONE", "replies": "BIGINT"},
    "channel_activity_daily": {
        "day": "DATE",
        "messages": "BIGINT",
        "top_level": "BIGINT",
        "replies": "BIGINT",
        "active_users": "BIGINT",
    },
    "user_activity_weekly": {
        "week": "DATE",
        "messages": "BIGINT",
        "threads_started": "BIGINT",
        "replies": "BIGINT",
        "questions_asked": "BIGINT",
    },
}

Rows = dict[tuple[Any, ...], tuple[Any, ...]]  # key -> the whole row


@dataclass(frozen=True)
class Msg:
    """One live message as the simulator serves it."""

    channel_id: str
    ts: str
    us: int  # ts in integer microseconds
    thread_ts: str | None
    user: str | None
    bot_id: str | None
    subtype: str | None
    text: str

    @property
    def is_reply(self) -> bool:
        return self.thread_ts is not None and self.thread_ts != self.ts

    @property
    def at(self) -> datetime:
        return at(self.us)

    @property
    def is_question(self) -> bool:
        return (
            not self.is_reply
            and self.subtype is None
            and self.bot_id is None
            and self.user is not None
            and "?" in self.text
        )


def at(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=us)


def week_of(day: date) -> date:
    return day - timedelta(days=day.weekday())


def live_messages(ws: Workspace) -> list[Msg]:
    """Every live message of the channels the bot reads, rendered by the simulator."""
    out = []
    for cid, ts in ws.iter_message_keys():
        m = ws.message(cid, ts)
        assert m is not None, (cid, ts)
        us = parse_ts(ts)
        assert us is not None
        out.append(
            Msg(
                channel_id=cid,
                ts=ts,
                us=us,
                thread_ts=m.get("thread_ts"),
                user=m.get("user"),
                bot_id=m.get("bot_id"),
                subtype=m.get("subtype"),
                text=m.get("text", ""),
            )
        )
    return out


def expected_models(ws: Workspace) -> dict[str, Rows]:
    """Every model's rows, by key, from the simulator's messages, channels and users."""
    msgs = live_messages(ws)
    with ws.lock:
        channel_names = {
            ch.id: f"DM with {ch.dm_user}" if ch.is_im else ch.name for ch in ws.conversations()
        }
        user_names = {u.id: (u.real_name or u.name) for u in ws.users}

    def uname(user: str | None) -> str | None:
        return user_names.get(user) if user is not None else None

    top = {(m.channel_id, m.ts): m for m in msgs if not m.is_reply}
    replies: dict[tuple[str, str], list[Msg]] = defaultdict(list)
    for m in msgs:
        if m.is_reply and m.thread_ts is not None and (m.channel_id, m.thread_ts) in top:
            replies[(m.channel_id, m.thread_ts)].append(m)

    def answers(parent: Msg) -> list[Msg]:
        found = replies.get((parent.channel_id, parent.ts), [])
        return sorted(
            (r for r in found if r.user is not None and r.user != parent.user),
            key=lambda r: (r.us, r.ts),
        )

    threads: Rows = {}
    for key, reps in replies.items():
        p = top[key]
        ans = answers(p)
        first = ans[0] if ans else None
        threads[key] = (
            p.channel_id,
            channel_names.get(p.channel_id),
            p.ts,
            p.user,
            uname(p.user),
            p.at,
            len(reps),
            len({r.user for r in ans}),
            first.at if first else None,
            (first.us - p.us) / 1e6 if first else None,
            at(max([p.us] + [r.us for r in reps])),
        )

    questions: Rows = {}
    unanswered: Rows = {}
    for key, q in top.items():
        if not q.is_question:
            continue
        ans = answers(q)
        first = ans[0] if ans else None
        n_replies = len(replies.get(key, []))
        questions[key] = (
            q.channel_id,
            channel_names.get(q.channel_id),
            q.ts,
            q.user,
            uname(q.user),
            q.at,
            q.text,
            n_replies,
            first is not None,
            first.user if first else None,
            uname(first.user) if first else None,
            first.at if first else None,
            (first.us - q.us) / 1e6 if first else None,
        )
        if first is None:
            unanswered[key] = questions[key][:8]

    daily: dict[tuple[str, date], list[Msg]] = defaultdict(list)
    weekly: dict[tuple[str, date], list[Msg]] = defaultdict(list)
    for m in msgs:
        day = m.at.date()
        daily[(m.channel_id, day)].append(m)
        if m.user is not None:
            weekly[(m.user, week_of(day))].append(m)
    channel_daily: Rows = {
        (cid, day): (
            cid,
            channel_names.get(cid),
            day,
            len(ms),
            sum(1 for m in ms if not m.is_reply),
            sum(1 for m in ms if m.is_reply),
            len({m.user for m in ms if m.user is not None}),
        )
        for (cid, day), ms in daily.items()
    }
    user_weekly: Rows = {
        (user, week): (
            user,
            uname(user),
            week,
            len(ms),
            sum(1 for m in ms if not m.is_reply and (m.channel_id, m.ts) in replies),
            sum(1 for m in ms if m.is_reply),
            sum(1 for m in ms if m.is_question),
        )
        for (user, week), ms in weekly.items()
    }
    return {
        "threads": threads,
        "questions": questions,
        "unanswered_questions": unanswered,
        "channel_activity_daily": channel_daily,
        "user_activity_weekly": user_weekly,
    }


def read_models(target: Target, dataset: str) -> dict[str, Rows]:
    """Every model table of `dataset`, by key (the contract's column order)."""
    out: dict[str, Rows] = {}
    for model, columns in COLUMNS.items():
        rows = query(target, f"select {', '.join(columns)} from {dataset}.{model}")
        key_at = [columns.index(k) for k in KEYS[model]]
        by_key = {tuple(r[i] for i in key_at): tuple(_utc(v) for v in r) for r in rows}
        assert len(by_key) == len(rows), f"{model}: duplicate keys"
        out[model] = by_key
    return out


def column_types(target: Target, dataset: str, model: str) -> dict[str, str]:
    return dict(
        query(
            target,
            "select column_name, data_type from information_schema.columns "
            f"where table_schema = '{dataset}' and table_name = '{model}' "
            "order by ordinal_position",
        )
    )


def _utc(v: Any) -> Any:
    return v.astimezone(UTC) if isinstance(v, datetime) else v


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=0, abs_tol=1e-6)
    return type(a) is type(b) and a == b


def model_differences(model: str, actual: Rows, expected: Rows, limit: int = 5) -> list[str]:
    """How the model's table differs from the expected rows (empty when identical): keys
    missing or extra, and every differing value by column (floats to 1e-6, all other
    values equal and of the same type)."""
    columns = COLUMNS[model]
    out = []
    missing = sorted(set(expected) - set(actual), key=str)
    extra = sorted(set(actual) - set(expected), key=str)
    if missing:
        out.append(f"{model}: {len(missing)} rows missing, e.g. {missing[:limit]}")
    if extra:
        out.append(f"{model}: {len(extra)} unexpected rows, e.g. {extra[:limit]}")
    wrong: dict[str, list[str]] = defaultdict(list)
    for key in sorted(set(actual) & set(expected), key=str):
        for col, a, e in zip(columns, actual[key], expected[key], strict=True):
            if not _same(a, e):
                wrong[col].append(f"{key}: {a!r} != {e!r}")
    for col, diffs in wrong.items():
        out.append(f"{model}.{col}: {len(diffs)} rows differ, e.g. {diffs[:limit]}")
    return out


def assert_model_equal(model: str, actual: Rows, expected: Rows) -> None:
    diffs = model_differences(model, actual, expected)
    assert not diffs, "\n".join(diffs)
