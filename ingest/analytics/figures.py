"""The figures a report shows, read from the analytics models (`ingest.analytics.build`).

`read_figures` runs a few plain SELECTs through dlt's SQL client (so it reads DuckDB and
BigQuery alike) and does the arithmetic in Python: weeks are summed from
`channel_activity_daily` (week = the Monday of the day, UTC), and medians and p90s of
`threads.seconds_to_first_reply` are computed from the rows with one definition
(`percentile`: linear interpolation between the closest ranks, as DuckDB's
`quantile_cont` and numpy's default), not with each warehouse's own approximate quantile.

`summary_lines` (three lines for `slack-ingest demo`, `slack-ingest report` and a Prefect
artifact) and `figures_markdown` (a Prefect markdown artifact) only format a `Figures`.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import dlt

#: The model tables a report reads (all in the analytics dataset).
MODEL_TABLES = ("threads", "unanswered_questions", "questions", "channel_activity_daily")


class FiguresUnavailable(Exception):
    """The analytics dataset lacks a model table (models never built, or another dataset)."""

    def __init__(self, dataset: str, table: str) -> None:
        super().__init__(f"dataset {dataset} has no table {table}")
        self.dataset = dataset
        self.table = table


@dataclass(frozen=True)
class ChannelWeek:
    """Messages of one channel in one week (Monday to Sunday, UTC)."""

    channel_id: str
    channel_name: str
    week: date
    messages: int


@dataclass(frozen=True)
class ReplyTimes:
    """Time to first reply of the threads of one channel (or of all: `channel_id` None)."""

    channel_id: str | None
    channel_name: str
    threads: int
    answered: int
    median_seconds: float | None
    p90_seconds: float | None

    @property
    def answered_share(self) -> float | None:
        return self.answered / self.threads if self.threads else None


@dataclass(frozen=True)
class UnansweredQuestion:
    channel_id: str
    channel_name: str
    ts: str
    asked_by: str | None
    asked_by_name: str
    asked_at: datetime
    text: str
    replies: int


@dataclass(frozen=True)
class Totals:
    messages: int
    threads: int
    answered_threads: int
    questions: int
    answered_questions: int
    unanswered_questions: int

    @property
    def answered_share(self) -> float | None:
        """The share of questions answered (None without questions)."""
        return self.answered_questions / self.questions if self.questions else None


@dataclass(frozen=True)
class ChannelTotal:
    """A channel's messages over all weeks (derived from `Figures.weekly`)."""

    channel_id: str
    channel_name: str
    messages: int
    active_weeks: int
    first_week: date
    last_week: date


@dataclass(frozen=True)
class Figures:
    #: the analytics dataset the figures were read from
    dataset: str
    #: messages per channel and week, channels busiest first, then by week; weeks without
    #: messages are absent
    weekly: tuple[ChannelWeek, ...]
    #: per channel, fastest median first (channels without an answered thread last)
    reply_times: tuple[ReplyTimes, ...]
    #: all threads of all channels
    overall: ReplyTimes
    #: the oldest unanswered questions, oldest first
    oldest_unanswered: tuple[UnansweredQuestion, ...]
    totals: Totals

    def channel_totals(self) -> list[ChannelTotal]:
        """Messages per channel over all weeks, busiest first (the order of `weekly`)."""
        by_channel: dict[str, list[ChannelWeek]] = {}
        for w in self.weekly:
            by_channel.setdefault(w.channel_id, []).append(w)
        return [
            ChannelTotal(
                channel_id=cid,
                channel_name=weeks[0].channel_name,
                messages=sum(w.messages for w in weeks),
                active_weeks=len(weeks),
                first_week=min(w.week for w in weeks),
                last_week=max(w.week for w in weeks),
            )
            for cid, weeks in by_channel.items()
        ]

    def weeks(self) -> list[date]:
        """Every Monday from the first week with messages to the last (gaps included)."""
        if not self.weekly:
            return []
        first = min(w.week for w in self.weekly)
        last = max(w.week for w in self.weekly)
        return [first + timedelta(weeks=i) for i in range((last - first).days // 7 + 1)]


# -- arithmetic ---------------------------------------------------------------------------


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-quantile (0..1) of `values` by linear interpolation between the closest ranks
    (DuckDB's `quantile_cont`, numpy's default); None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    rank = q * (len(ordered) - 1)
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def monday(day: date) -> date:
    return day - timedelta(days=day.weekday())


def reply_times(
    channel_id: str | None, channel_name: str, seconds: Iterable[float | None]
) -> ReplyTimes:
    """Threads, answered threads, median and p90 of the answered ones' first reply times."""
    values = list(seconds)
    answered = [float(s) for s in values if s is not None]
    return ReplyTimes(
        channel_id=channel_id,
        channel_name=channel_name,
        threads=len(values),
        answered=len(answered),
        median_seconds=percentile(answered, 0.5),
        p90_seconds=percentile(answered, 0.9),
    )


# -- reading ------------------------------------------------------------------------------


def _as_date(value: Any) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _as_utc(value: Any) -> datetime:
    if not isinstance(value, datetime):
        value = datetime.fromisoformat(str(value))
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def _name(name: Any, channel_id: Any) -> str:
    return str(name) if name else str(channel_id)


def read_figures(pipeline: dlt.Pipeline, analytics_dataset: str, *, oldest: int = 20) -> Figures:
    """The report's figures, read from the models in `analytics_dataset` of the pipeline's
    destination. `FiguresUnavailable` when a model table is missing."""
    from dlt.destinations.exceptions import DatabaseUndefinedRelation

    with pipeline.sql_client() as client:
        with client.with_alternative_dataset_name(analytics_dataset):

            def q(name: str) -> str:
                return client.escape_column_name(name)

            def select(table: str, columns: str, tail: str = "") -> list[Any]:
                sql = f"SELECT {columns} FROM {client.make_qualified_table_name(table)}{tail}"
                try:
                    return list(client.execute_sql(sql) or [])
                except DatabaseUndefinedRelation:
                    raise FiguresUnavailable(analytics_dataset, table) from None

            def cols(*names: str) -> str:
                return ", ".join(q(n) for n in names)

            daily = select(
                "channel_activity_daily", cols("channel_id", "channel_name", "day", "messages")
            )
            threads = select(
                "threads", cols("channel_id", "channel_name", "seconds_to_first_reply")
            )
            [(questions, answered_questions)] = select(
                "questions",
                f"COUNT(*), SUM(CASE WHEN {q('is_answered')} THEN 1 ELSE 0 END)",
            )
            [(unanswered_count,)] = select("unanswered_questions", "COUNT(*)")
            unanswered = select(
                "unanswered_questions",
                cols(
                    "channel_id",
                    "channel_name",
                    "ts",
                    "asked_by",
                    "asked_by_name",
                    "asked_at",
                    "text",
                    "replies",
                ),
                f" ORDER BY {cols('asked_at', 'channel_id', 'ts')} LIMIT {max(int(oldest), 0)}",
            )

    # weekly activity per channel
    names: dict[str, str] = {}
    per_week: dict[tuple[str, date], int] = defaultdict(int)
    for cid, cname, day, messages in daily:
        names[str(cid)] = _name(cname, cid)
        per_week[(str(cid), monday(_as_date(day)))] += int(messages or 0)
    channel_messages: dict[str, int] = defaultdict(int)
    for (cid, _), n in per_week.items():
        channel_messages[cid] += n
    rank = {
        cid: i
        for i, cid in enumerate(
            sorted(channel_messages, key=lambda c: (-channel_messages[c], names[c], c))
        )
    }
    weekly = tuple(
        ChannelWeek(cid, names[cid], week, n)
        for (cid, week), n in sorted(per_week.items(), key=lambda kv: (rank[kv[0][0]], kv[0][1]))
        if n
    )

    # time to first reply
    seconds: dict[str, list[float | None]] = defaultdict(list)
    thread_names: dict[str, str] = {}
    for cid, cname, secs in threads:
        thread_names[str(cid)] = _name(cname, cid)
        seconds[str(cid)].append(None if secs is None else float(secs))
    per_channel = [reply_times(cid, thread_names[cid], secs) for cid, secs in seconds.items()]
    per_channel.sort(
        key=lambda r: (
            r.median_seconds is None,
            r.median_seconds or 0.0,
            r.channel_name,
            r.channel_id or "",
        )
    )
    overall = reply_times(None, "all channels", (s for secs in seconds.values() for s in secs))

    return Figures(
        dataset=analytics_dataset,
        weekly=weekly,
        reply_times=tuple(per_channel),
        overall=overall,
        oldest_unanswered=tuple(
            UnansweredQuestion(
                channel_id=str(cid),
                channel_name=_name(cname, cid),
                ts=str(ts),
                asked_by=None if by is None else str(by),
                asked_by_name=str(by_name or by or "unknown"),
                asked_at=_as_utc(at),
                text=str(text or ""),
                replies=int(replies or 0),
            )
            for cid, cname, ts, by, by_name, at, text, replies in unanswered
        ),
        totals=Totals(
            messages=sum(per_week.values()),
            threads=overall.threads,
            answered_threads=overall.answered,
            questions=int(questions or 0),
            answered_questions=int(answered_questions or 0),
            unanswered_questions=int(unanswered_count or 0),
        ),
    )


# -- words --------------------------------------------------------------------------------


def format_duration(seconds: float | None) -> str:
    """1h 04m, 12m 05s, 45s, 2d 03h; an en dash for None."""
    if seconds is None:
        return "–"
    s = round(seconds)
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m {s % 60:02d}s"
    if s < 86400:
        return f"{s // 3600}h {s % 3600 // 60:02d}m"
    return f"{s // 86400}d {s % 86400 // 3600:02d}h"


def format_share(share: float | None) -> str:
    return "–" if share is None else f"{share:.0%}"


def shorten(text: str, width: int) -> str:
    """One line of at most `width` characters (whitespace collapsed; a longer text is cut,
    at a word's end where one is near, and ends with an ellipsis)."""
    line = re.sub(r"\s+", " ", text).strip()
    if len(line) <= width:
        return line
    cut = line[: width - 1]
    space = cut.rfind(" ")
    if space >= width * 0.6:  # end on a whole word when one ends near the limit
        cut = cut[:space]
    return cut.rstrip(" ,.;:") + "…"


def channel_label(name: str) -> str:
    """'#general'; a DM keeps its own label ('DM with U123')."""
    return name if name.startswith(("#", "DM with ")) else f"#{name}"


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" if n == 1 else f"{n:,} {word}s"


def summary_lines(fig: Figures) -> list[str]:
    """Three short lines of what the models found: threads and reply times, the busiest
    channel, the unanswered questions."""
    o = fig.overall
    if not o.threads:
        first = "Threads: none yet"
    elif not o.answered:
        first = f"Threads: {o.threads:,}, none answered yet"
    else:
        first = (
            f"Threads: {o.threads:,}, {format_share(o.answered_share)} answered; median time "
            f"to first reply {format_duration(o.median_seconds)} "
            f"(p90 {format_duration(o.p90_seconds)})"
        )

    channels = fig.channel_totals()
    if not channels:
        second = "Busiest channel: none (no messages)"
    else:
        top = channels[0]
        share = top.messages / fig.totals.messages if fig.totals.messages else 0.0
        second = (
            f"Busiest channel: {channel_label(top.channel_name)} ({top.messages:,} of "
            f"{fig.totals.messages:,} messages, {share:.0%}; active in "
            f"{_plural(top.active_weeks, 'week')})"
        )

    t = fig.totals
    if not t.questions:
        third = "Unanswered questions: none (no questions asked)"
    elif not t.unanswered_questions or not fig.oldest_unanswered:
        third = f"Unanswered questions: none; all {t.questions:,} questions answered"
    else:
        q = fig.oldest_unanswered[0]
        third = (
            f"Unanswered questions: {t.unanswered_questions:,} of {t.questions:,}; the oldest, "
            f"in {channel_label(q.channel_name)} since {q.asked_at:%Y-%m-%d}: "
            f'"{shorten(q.text, 60)}"'
        )
    return [first, second, third]


def _md(text: str) -> str:
    """A Markdown table cell: one line, pipes and markup characters escaped."""
    line = re.sub(r"\s+", " ", text).strip()
    return re.sub(r"([\\|`*_\[\]<>])", r"\\\1", line)


def figures_markdown(fig: Figures, *, oldest: int = 5) -> str:
    """A compact Markdown summary (a Prefect markdown artifact): the three lines, reply
    times per channel, the oldest unanswered questions."""
    lines = [f"### Slack analytics (`{fig.dataset}`)", ""]
    lines += [f"- {_md(line)}" for line in summary_lines(fig)]
    t = fig.totals
    lines += [
        "",
        f"{t.messages:,} messages · {t.threads:,} threads · {t.questions:,} questions "
        f"({format_share(t.answered_share)} answered)",
        "",
        "| Channel | Messages | Threads | Answered | Median first reply | p90 |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    messages = {c.channel_id: c.messages for c in fig.channel_totals()}
    for r in (*fig.reply_times, fig.overall):
        label = "**All channels**" if r.channel_id is None else _md(channel_label(r.channel_name))
        n = t.messages if r.channel_id is None else messages.get(r.channel_id, 0)
        lines.append(
            f"| {label} | {n:,} | {r.threads:,} | {format_share(r.answered_share)} | "
            f"{format_duration(r.median_seconds)} | {format_duration(r.p90_seconds)} |"
        )
    if fig.oldest_unanswered:
        lines += [
            "",
            "**Oldest unanswered questions**",
            "",
            "| Asked (UTC) | Channel | By | Question |",
            "|---|---|---|---|",
        ]
        for q in fig.oldest_unanswered[:oldest]:
            lines.append(
                f"| {q.asked_at:%Y-%m-%d %H:%M} | {_md(channel_label(q.channel_name))} | "
                f"{_md(q.asked_by_name)} | {_md(shorten(q.text, 80))} |"
            )
    return "\n".join(lines) + "\n"
