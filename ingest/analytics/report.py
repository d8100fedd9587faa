"""One self-contained HTML page of the analytics figures (`slack-ingest report`).

No JavaScript and no external resource: inline CSS, and charts drawn here as inline SVG (no
plotting library). Each chart is a column of its section's table, one row per channel, so
a channel's marks sit beside its numbers.

Every number a chart or table shows is also in the page in machine-readable form, as
`data-*` attributes: each table row carries its figures (`data-channel-id`,
`data-messages`, `data-median-seconds`, ...), each heatmap cell its week and messages
(`data-week`, `data-messages`). Seconds are Python's `repr` of the float, weeks ISO dates,
times ISO 8601 in UTC. All Slack text (channel and user names, messages) is escaped.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime

from ingest.analytics.figures import (
    ChannelWeek,
    Figures,
    ReplyTimes,
    channel_label,
    format_duration,
    format_share,
    shorten,
    summary_lines,
)

#: Characters of a question shown in the table (the whole text is in the cell's title).
QUESTION_CHARS = 100

ACCENT = "#2563eb"
ACCENT_SOFT = "#bfdbfe"
OVERALL = "#374151"
OVERALL_SOFT = "#d1d5db"
EMPTY = "#eef0f3"
#: Light to dark: the colours of the weekly heatmap's buckets.
HEAT = ("#c7dbfb", "#9fc1f8", "#6f9ff2", "#3f7ee9", "#2160d9", "#1b46b0", "#172f74")

CSS = """
* { box-sizing: border-box; }
body { margin: 0; background: #f3f4f6; color: #1f2937;
  font: 15px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial,
  "Noto Sans", "DejaVu Sans", sans-serif; }
main { max-width: 1160px; margin: 0 auto; padding: 28px 32px 32px; }
h1 { font-size: 26px; line-height: 1.25; margin: 0 0 4px; letter-spacing: -0.01em; }
h2 { font-size: 19px; margin: 0 0 2px; }
code { font-size: 12.5px; background: #e5e7eb; padding: 1px 5px; border-radius: 4px; }
.meta { color: #6b7280; font-size: 13px; margin: 0; }
.summary { list-style: none; margin: 14px 0 0; padding: 10px 16px; background: #fff;
  border-left: 4px solid #2563eb; border-radius: 0 8px 8px 0; }
.summary li { margin: 2px 0; font-size: 14.5px; }
.cards { display: grid; grid-template-columns: repeat(5, minmax(0, 1fr)); gap: 12px;
  margin: 16px 0 20px; }
.card { background: #fff; border: 1px solid #e5e7eb; border-radius: 10px; padding: 10px 16px; }
.card .label { color: #6b7280; font-size: 11.5px; text-transform: uppercase;
  letter-spacing: 0.05em; }
.card .value { font-size: 25px; font-weight: 650; font-variant-numeric: tabular-nums;
  line-height: 1.3; }
.card .sub { color: #6b7280; font-size: 12.5px; }
section { background: #fff; border: 1px solid #e5e7eb; border-radius: 12px;
  padding: 18px 22px 16px; margin: 0 0 20px; }
.note { color: #6b7280; font-size: 13px; margin: 0 0 8px; }
.legend { display: flex; flex-wrap: wrap; align-items: center; gap: 4px 16px;
  font-size: 12.5px; color: #4b5563; margin: 0 0 6px; }
.swatch { display: inline-block; width: 12px; height: 12px; border-radius: 2px;
  vertical-align: -1px; margin-right: 5px; }
.swatch.dash { width: 0; height: 13px; border-left: 2px dashed #374151; border-radius: 0;
  margin: 0 6px 0 4px; }
table { border-collapse: collapse; width: 100%; font-size: 13.5px; }
th, td { padding: 4px 9px; border-bottom: 1px solid #edf0f3; text-align: left;
  vertical-align: middle; }
th { color: #6b7280; font-size: 11px; font-weight: 600; text-transform: uppercase;
  letter-spacing: 0.04em; white-space: nowrap; vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.dim { color: #9ca3af; }
.nowrap { white-space: nowrap; }
.chan { font-weight: 600; white-space: nowrap; }
tr.overall td { font-weight: 650; background: #fff; border-bottom: 2px solid #d1d5db; }
td.plot { padding-top: 3px; padding-bottom: 3px; }
td.plot svg { display: block; width: 100%; height: 18px; }
th.plot { text-transform: none; letter-spacing: 0; font-weight: 500; }
.axis { position: relative; height: 15px; }
.axis span { position: absolute; bottom: 0; font-size: 11px; color: #6b7280;
  line-height: 1; padding-left: 3px; border-left: 1px solid #9ca3af; }
.axis.centered span { transform: translateX(-50%); border-left: 0; padding-left: 0; }
.axis.centered span.last { transform: translateX(-100%); }
.axis.centered span.first { transform: none; }
td.question { color: #374151; }
.empty { color: #6b7280; font-style: italic; }
footer { color: #9ca3af; font-size: 12px; text-align: center; }
@media (max-width: 900px) {
  main { padding: 16px; }
  .cards { grid-template-columns: repeat(2, minmax(0, 1fr)); }
}
"""


def esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _attrs(**values: object) -> str:
    """` data-a="..." data-b="..."` (underscores become dashes; None is left out)."""
    return "".join(
        f' data-{k.replace("_", "-")}="{esc(v)}"' for k, v in values.items() if v is not None
    )


def _seconds(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def _pct(frac: float) -> str:
    return f"{100 * frac:.3f}".rstrip("0").rstrip(".") + "%"


# -- weekly activity ------------------------------------------------------------------------


def heat_buckets(peak: int) -> list[tuple[int, int | None, str]]:
    """(lowest, highest or None for "and more", colour) of the weekly heatmap: at most
    seven buckets of nice bounds (1, 2, 5, 10, ...; else 1, 3, 10, 30, ...; else powers
    of ten) from one message up to `peak`."""
    peak = max(peak, 1)
    bounds = [1]
    for series in ((1, 2, 5), (1, 3), (1,)):
        bounds = [m * 10**e for e in range(15) for m in series if m * 10**e <= peak]
        if len(bounds) <= len(HEAT):
            break
    n = len(bounds)
    picks = [round(i * (len(HEAT) - 1) / (n - 1)) for i in range(n)] if n > 1 else [4]
    return [
        (low, (bounds[i + 1] - 1) if i + 1 < n else None, HEAT[picks[i]])
        for i, low in enumerate(bounds)
    ]


def _heat(n: int, buckets: Sequence[tuple[int, int | None, str]]) -> str:
    colour = buckets[0][2]
    for low, _high, c in buckets:
        if n >= low:
            colour = c
    return colour


def _bucket_label(low: int, high: int | None, peak: int) -> str:
    if high is None:
        return f"{low:,}" if low >= peak else f"{low:,}–{peak:,}"
    return f"{low:,}" if high == low else f"{low:,}–{high:,}"


def _peak(fig: Figures) -> int:
    return max((w.messages for w in fig.weekly), default=0)


def weekly_legend(fig: Figures) -> str:
    peak = _peak(fig)
    if not peak:
        return ""
    items = "".join(
        f'<span><span class="swatch" style="background:{c}"></span>'
        f"{_bucket_label(low, high, peak)}</span>"
        for low, high, c in heat_buckets(peak)
    )
    return (
        f'<div class="legend" id="weekly-legend"><span>Messages per week:</span>{items}'
        f'<span><span class="swatch" style="background:{EMPTY}"></span>none</span></div>'
    )


def _time_ticks(weeks: Sequence[date]) -> list[tuple[int, str]]:
    """(week index, label) at year starts (long spans) or month starts (short ones)."""
    if not weeks:
        return []
    months = len(weeks) <= 60
    ticks: list[tuple[int, str]] = []
    for i, week in enumerate(weeks):
        previous = weeks[i - 1] if i else None
        if months:
            if previous is None or previous.month != week.month:
                label = f"{week:%b}" if week.month != 1 and ticks else f"{week:%b %Y}"
                ticks.append((i, label))
        elif previous is None or previous.year != week.year:
            ticks.append((i, str(week.year)))
    if months and len(ticks) > 14:  # every third month
        ticks = [t for j, t in enumerate(ticks) if j % 3 == 0]
    if len(ticks) > 1 and ticks[1][0] - ticks[0][0] < len(weeks) / 25:
        ticks = ticks[1:]  # (a partial first year or month: its label would overlap)
    return ticks


def _heat_strip(
    weeks: dict[date, int],
    index: dict[date, int],
    n_weeks: int,
    buckets: Sequence[tuple[int, int | None, str]],
) -> str:
    """One channel's weeks as a strip of cells (an SVG stretched to its cell's width)."""
    cells = "".join(
        f'<rect x="{index[week]}" width="1" height="1" fill="{_heat(n, buckets)}"'
        f"{_attrs(week=week.isoformat(), messages=n)}><title>week of {week:%Y-%m-%d}: "
        f"{n:,}</title></rect>"
        for week, n in sorted(weeks.items())
    )
    return (
        f'<svg viewBox="0 0 {n_weeks} 1" preserveAspectRatio="none" '
        f'shape-rendering="crispEdges" role="img">'
        f'<rect width="{n_weeks}" height="1" fill="{EMPTY}"/>{cells}</svg>'
    )


def weekly_table(fig: Figures) -> str:
    """Channels (busiest first) with their weeks as a heatmap, messages, share, active
    weeks and busiest week."""
    totals = fig.channel_totals()
    weeks = fig.weeks()
    if not totals or not weeks:
        return '<p class="empty">No messages.</p>'
    index = {w: i for i, w in enumerate(weeks)}
    buckets = heat_buckets(_peak(fig))
    per_channel: dict[str, dict[date, int]] = {}
    peak_of: dict[str, ChannelWeek] = {}
    for w in fig.weekly:
        per_channel.setdefault(w.channel_id, {})[w.week] = w.messages
        best = peak_of.get(w.channel_id)
        if best is None or w.messages > best.messages:
            peak_of[w.channel_id] = w
    axis = "".join(
        f'<span style="left:{_pct(i / len(weeks))}">{esc(label)}</span>'
        for i, label in _time_ticks(weeks)
    )
    all_messages = fig.totals.messages or 1
    rows = []
    for c in totals:
        peak = peak_of[c.channel_id]
        rows.append(
            f'<tr class="weekly-row"{_attrs(channel_id=c.channel_id, channel=c.channel_name)}'
            f"{_attrs(messages=c.messages, active_weeks=c.active_weeks)}"
            f"{_attrs(peak_week=peak.week.isoformat(), peak_messages=peak.messages)}>"
            f'<td class="chan">{esc(shorten(channel_label(c.channel_name), 28))}</td>'
            f'<td class="plot">'
            f"{_heat_strip(per_channel[c.channel_id], index, len(weeks), buckets)}</td>"
            f'<td class="num">{c.messages:,}</td>'
            f'<td class="num">{c.messages / all_messages:.1%}</td>'
            f'<td class="num">{c.active_weeks:,}</td>'
            f'<td class="num">{peak.messages:,} '
            f'<span class="dim">{peak.week:%Y-%m-%d}</span></td></tr>'
        )
    return (
        '<table id="weekly-activity"><colgroup><col><col style="width:50%"><col><col><col><col>'
        "</colgroup><thead><tr><th>Channel</th>"
        f'<th class="plot"><div class="axis">{axis}</div></th>'
        '<th class="num">Messages</th><th class="num">Share</th>'
        '<th class="num">Active weeks</th><th class="num">Busiest week</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# -- time to first reply ----------------------------------------------------------------------

#: Tick candidates for durations (seconds).
_DURATION_TICKS = (
    *(1, 2, 5, 10, 15, 30),
    *(60, 120, 300, 600, 900, 1800),
    *(3600, 7200, 3 * 3600, 6 * 3600, 12 * 3600),
    *(86400, 2 * 86400, 3 * 86400, 7 * 86400, 14 * 86400, 30 * 86400, 90 * 86400),
    365 * 86400,
)


def _tick_label(seconds: float) -> str:
    s = round(seconds)
    if s == 0:
        return "0"
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= size and s % size == 0:
            return f"{s // size}{unit}"
    return format_duration(s)


@dataclass(frozen=True)
class _Scale:
    lo: float
    hi: float
    log: bool
    ticks: tuple[float, ...]

    def frac(self, value: float) -> float:
        if self.log:
            v = min(max(value, self.lo), self.hi)
            return (math.log(v) - math.log(self.lo)) / (math.log(self.hi) - math.log(self.lo))
        return min(max(value, 0.0), self.hi) / self.hi


def _duration_scale(values: Iterable[float]) -> _Scale:
    """Linear from 0, or logarithmic when the values span more than ~40x."""
    positive = [v for v in values if v > 0]
    if not positive:
        return _Scale(0.0, 60.0, False, (0.0, 30.0, 60.0))
    low, high = min(positive), max(positive)
    if high / low <= 40:
        step = next((t for t in _DURATION_TICKS if high / t <= 6), _DURATION_TICKS[-1])
        top = math.ceil(high / step) * step
        n = int(round(top / step))
        return _Scale(0.0, float(top), False, tuple(float(step * i) for i in range(n + 1)))
    lo = max((t for t in _DURATION_TICKS if t <= low), default=1)
    hi = min((t for t in _DURATION_TICKS if t >= high), default=_DURATION_TICKS[-1])
    ticks = [float(t) for t in _DURATION_TICKS if lo <= t <= hi]
    while len(ticks) > 8:
        thinned = ticks[::2]
        ticks = thinned if thinned[-1] == ticks[-1] else [*thinned[:-1], ticks[-1]]
    return _Scale(float(lo), float(hi), True, tuple(ticks))


#: Width of the reply-time bars' SVG coordinates (stretched to the cell).
_BAR_W = 1000


def _reply_bars(r: ReplyTimes, scale: _Scale, overall_median: float | None) -> str:
    grid = "".join(
        f'<line x1="{_BAR_W * scale.frac(t):.1f}" y1="0" x2="{_BAR_W * scale.frac(t):.1f}" '
        'y2="18" stroke="#e5e7eb" vector-effect="non-scaling-stroke"/>'
        for t in scale.ticks
    )
    marks = ""
    if r.median_seconds is not None and r.p90_seconds is not None:
        overall = r.channel_id is None
        soft, dark = (OVERALL_SOFT, OVERALL) if overall else (ACCENT_SOFT, ACCENT)
        x0 = _BAR_W * scale.frac(scale.lo)
        p90 = max(_BAR_W * scale.frac(r.p90_seconds) - x0, 2.0)
        median = max(_BAR_W * scale.frac(r.median_seconds) - x0, 2.0)
        marks = (
            f'<rect x="{x0:.1f}" y="3" width="{p90:.1f}" height="12" fill="{soft}">'
            f"<title>p90 {format_duration(r.p90_seconds)}</title></rect>"
            f'<rect x="{x0:.1f}" y="3" width="{median:.1f}" height="12" fill="{dark}">'
            f"<title>median {format_duration(r.median_seconds)}</title></rect>"
        )
    if overall_median is not None:
        x = _BAR_W * scale.frac(overall_median)
        marks += (
            f'<line x1="{x:.1f}" y1="0" x2="{x:.1f}" y2="18" stroke="{OVERALL}" '
            'stroke-width="1.5" stroke-dasharray="3 2" vector-effect="non-scaling-stroke"/>'
        )
    return (
        f'<svg viewBox="0 0 {_BAR_W} 18" preserveAspectRatio="none" role="img">{grid}{marks}</svg>'
    )


def reply_table(fig: Figures) -> str:
    """All channels, then each channel (fastest median first): median and p90 as bars,
    threads, answered, share, median, p90."""
    rows = [fig.overall, *fig.reply_times]
    values = [v for r in rows for v in (r.median_seconds, r.p90_seconds) if v is not None]
    if not fig.overall.threads:
        return '<p class="empty">No threads.</p>'
    scale = _duration_scale(values)
    ticks = list(scale.ticks)
    axis = "".join(
        f'<span class="{"first" if i == 0 else "last" if i == len(ticks) - 1 else ""}" '
        f'style="left:{_pct(scale.frac(t))}">{esc(_tick_label(t))}</span>'
        for i, t in enumerate(ticks)
    )
    body = []
    for r in rows:
        overall = r.channel_id is None
        attrs = _attrs(channel_id="" if overall else r.channel_id, channel=r.channel_name)
        attrs += _attrs(threads=r.threads, answered=r.answered)
        attrs += _attrs(
            median_seconds=_seconds(r.median_seconds), p90_seconds=_seconds(r.p90_seconds)
        )
        label = "All channels" if overall else shorten(channel_label(r.channel_name), 28)
        cls = "reply-row overall" if overall else "reply-row"
        dashed = fig.overall.median_seconds if not overall else None
        body.append(
            f'<tr class="{cls}"{attrs}><td class="chan">{esc(label)}</td>'
            f'<td class="plot">{_reply_bars(r, scale, dashed)}</td>'
            f'<td class="num">{r.threads:,}</td><td class="num">{r.answered:,}</td>'
            f'<td class="num">{format_share(r.answered_share)}</td>'
            f'<td class="num">{format_duration(r.median_seconds)}</td>'
            f'<td class="num">{format_duration(r.p90_seconds)}</td></tr>'
        )
    return (
        '<table id="reply-times"><colgroup><col><col style="width:44%"><col><col><col><col>'
        "<col></colgroup><thead><tr><th>Channel</th>"
        f'<th class="plot"><div class="axis centered">{axis}</div></th>'
        '<th class="num">Threads</th><th class="num">Answered</th><th class="num">Share</th>'
        '<th class="num">Median</th><th class="num">p90</th></tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table>"
    )


# -- unanswered questions -------------------------------------------------------------------


def _age(asked_at: datetime, now: datetime) -> str:
    days = (now - asked_at).days
    if days < 1:
        return "today"
    if days < 60:
        return f"{days:,} days"
    if days < 730:
        return f"{days // 30:,} months"
    return f"{days / 365.25:.1f} years"


def unanswered_table(fig: Figures, generated_at: datetime) -> str:
    if not fig.oldest_unanswered:
        return '<p class="empty">No unanswered questions.</p>'
    rows = []
    for i, q in enumerate(fig.oldest_unanswered, 1):
        attrs = _attrs(channel_id=q.channel_id, channel=q.channel_name, ts=q.ts)
        attrs += _attrs(asked_by=q.asked_by, asked_by_name=q.asked_by_name)
        attrs += _attrs(asked_at=q.asked_at.isoformat(), replies=q.replies)
        text = shorten(q.text, QUESTION_CHARS)
        title = f' title="{esc(q.text)}"' if text != q.text else ""
        rows.append(
            f'<tr{attrs}><td class="num dim">{i}</td>'
            f'<td class="num">{q.asked_at:%Y-%m-%d %H:%M}</td>'
            f'<td class="num">{_age(q.asked_at, generated_at)}</td>'
            f'<td class="chan">{esc(channel_label(q.channel_name))}</td>'
            f'<td class="nowrap">{esc(q.asked_by_name)}</td>'
            f'<td class="num">{q.replies:,}</td>'
            f'<td class="question"{title}>{esc(text)}</td></tr>'
        )
    return (
        '<table id="unanswered"><thead><tr><th class="num">#</th>'
        '<th class="num">Asked (UTC)</th><th class="num">Waiting</th><th>Channel</th>'
        '<th>Asked by</th><th class="num">Replies</th><th style="width:48%">Question</th></tr>'
        "</thead>"
        f"<tbody>{''.join(rows)}</tbody></table>"
    )


# -- the page ---------------------------------------------------------------------------------


def _card(label: str, shown: str, sub: str, /, **data: object) -> str:
    return (
        f'<div class="card"{_attrs(**data)}><div class="label">{esc(label)}</div>'
        f'<div class="value">{esc(shown)}</div><div class="sub">{esc(sub)}</div></div>'
    )


def _cards(fig: Figures) -> str:
    t, o = fig.totals, fig.overall
    return "".join(
        [
            _card(
                "Messages",
                f"{t.messages:,}",
                f"in {len(fig.channel_totals()):,} channels, {len(fig.weeks()):,} weeks",
                total="messages",
                value=t.messages,
            ),
            _card(
                "Threads",
                f"{t.threads:,}",
                f"{format_share(o.answered_share)} answered",
                total="threads",
                value=t.threads,
                answered=t.answered_threads,
            ),
            _card(
                "Median first reply",
                format_duration(o.median_seconds),
                f"p90 {format_duration(o.p90_seconds)}",
                total="median-first-reply",
                value=_seconds(o.median_seconds),
                p90=_seconds(o.p90_seconds),
            ),
            _card(
                "Questions",
                f"{t.questions:,}",
                f"{format_share(t.answered_share)} answered",
                total="questions",
                value=t.questions,
                answered=t.answered_questions,
            ),
            _card(
                "Unanswered",
                f"{t.unanswered_questions:,}",
                f"of {t.questions:,} questions",
                total="unanswered",
                value=t.unanswered_questions,
            ),
        ]
    )


def render_report(fig: Figures, *, title: str, generated_at: datetime) -> str:
    """The report as one HTML page (UTF-8 text, self-contained)."""
    generated = (
        generated_at.astimezone(UTC) if generated_at.tzinfo else generated_at.replace(tzinfo=UTC)
    )
    weeks = fig.weeks()
    span = (
        f"; messages from the week of {weeks[0]:%Y-%m-%d} to that of {weeks[-1]:%Y-%m-%d}"
        if weeks
        else ""
    )
    summary = "".join(f"<li>{esc(line)}</li>" for line in summary_lines(fig))
    shown, unanswered = len(fig.oldest_unanswered), fig.totals.unanswered_questions
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="slack-ingest report">
<title>{esc(title)}</title>
<style>{CSS}</style>
</head>
<body>
<main>
<header>
<h1>{esc(title)}</h1>
<p class="meta">Generated {generated:%Y-%m-%d %H:%M} UTC from the models in
<code>{esc(fig.dataset)}</code>{span}. Live messages only; times in UTC; weeks start on
Monday.</p>
<ul class="summary" id="summary">{summary}</ul>
</header>
<div class="cards" id="totals">{_cards(fig)}</div>

<section id="weekly">
<h2>Weekly activity per channel</h2>
<p class="note">Messages per channel and week (replies in threads included), busiest channel
first.</p>
{weekly_legend(fig)}
{weekly_table(fig)}
</section>

<section id="reply">
<h2>Time to first reply</h2>
<p class="note">From a thread's first message to the first reply by someone else, over the
threads that got one; fastest channel first.</p>
<div class="legend">
<span><span class="swatch" style="background:{ACCENT}"></span>median</span>
<span><span class="swatch" style="background:{ACCENT_SOFT}"></span>90th percentile
(p90)</span>
<span><span class="swatch dash"></span>median of all channels</span>
</div>
{reply_table(fig)}
</section>

<section id="questions">
<h2>Oldest unanswered questions</h2>
<p class="note">The {shown:,} oldest of {unanswered:,} questions nobody but the asker
replied to, oldest first; waiting until {generated:%Y-%m-%d}.</p>
{unanswered_table(fig, generated)}
</section>
<footer>slack-ingest report · {esc(fig.dataset)}</footer>
</main>
</body>
</html>
"""
