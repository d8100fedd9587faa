"""`slack-ingest report` end to end: a small simulated workspace loaded into a real DuckDB
file, the models built by the command itself (dbt), the page parsed, and every figure on it
compared with the same figure computed by SQL straight from the model tables.

The page's figures are read twice: from their machine-readable form (`data-*` attributes
of the chart marks and table rows) and from the text a reader sees (the table cells).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from ingest.analytics.figures import channel_label, format_duration, shorten
from ingest.analytics.report import QUESTION_CHARS
from ingest.load.run import Target
from ingest.simulator import SimulatorThread, Workspace
from tests.integration.helpers import load, query

pytestmark = pytest.mark.slow

ANALYTICS = "slack_analytics"
OLDEST = 25
#: Slack text that must come out as text, never as markup.
HOSTILE_TEXT = '<script>alert("x")</script> & <b>bold</b> <a href="https://evil.example/">x</a>?'
HOSTILE_NAME = 'Eve <i>&</i> "Mallory"'

# -- the command line -------------------------------------------------------------------------


def cli(args: list[str], cwd: Path, pipelines: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SLACK_INGEST__", "DLT"))}
    env |= {"PYTHONUNBUFFERED": "1", "SLACK_INGEST__PIPELINES_DIR": str(pipelines)}
    return subprocess.run(
        [sys.executable, "-m", "slack_ingest", "report", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=240,
    )


# -- a small HTML tree ------------------------------------------------------------------------

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "col", "wbr", "area", "base"}


@dataclass
class Node:
    tag: str
    attrs: dict[str, str]
    children: list[Node] = field(default_factory=list)
    parts: list[str] = field(default_factory=list)  # text directly inside, in order

    def text(self, skip: tuple[str, ...] = ()) -> str:
        """All text inside (children's included, but for `skip` elements), whitespace
        collapsed."""
        out: list[str] = []

        def walk(n: Node) -> None:
            out.extend(n.parts)
            for c in n.children:
                if c.tag not in skip:
                    walk(c)

        walk(self)
        return re.sub(r"\s+", " ", "".join(out)).strip()

    def iter(self) -> Any:
        yield self
        for c in self.children:
            yield from c.iter()

    def find_all(self, tag: str, cls: str | None = None) -> list[Node]:
        return [
            n
            for n in self.iter()
            if n.tag == tag and (cls is None or cls in n.attrs.get("class", "").split())
        ]

    def by_id(self, ident: str) -> Node:
        found = [n for n in self.iter() if n.attrs.get("id") == ident]
        assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
        return found[0]

    def data(self, name: str) -> str:
        return self.attrs[f"data-{name}"]


class TreeBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {})
        self.stack = [self.root]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        node = Node(tag, {k: v or "" for k, v in attrs})
        self.stack[-1].children.append(node)
        if tag not in VOID:
            self.stack.append(node)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.stack[-1].children.append(Node(tag, {k: v or "" for k, v in attrs}))

    def handle_endtag(self, tag: str) -> None:
        if tag in VOID:
            return
        assert self.stack[-1].tag == tag, f"</{tag}> closes <{self.stack[-1].tag}>"
        self.stack.pop()

    def handle_data(self, data: str) -> None:
        self.stack[-1].parts.append(data)


def parse(page: str) -> Node:
    builder = TreeBuilder()
    builder.feed(page)
    builder.close()
    assert builder.stack == [builder.root], "unclosed elements"
    return builder.root


def rows(table: Node) -> list[Node]:
    """The data rows of a table (tbody and tfoot)."""
    return [tr for part in table.children if part.tag in ("tbody", "tfoot") for tr in part.children]


def cells(tr: Node) -> list[str]:
    """The text a reader sees in each cell (an SVG's tooltips left out)."""
    return [td.text(skip=("svg",)) for td in tr.children if td.tag == "td"]


# -- the fixture: load, report ----------------------------------------------------------------


@dataclass
class Report:
    tmp: Path
    target: Target
    unbuilt: Path
    page: str
    doc: Node
    stdout: str
    stderr: str
    hostile: tuple[str, str]  # (channel_id, ts) of the question given HOSTILE_TEXT

    def sql(self, sql: str) -> list[tuple[Any, ...]]:
        return query(self.target, sql)


def _oldest_question(ws: Workspace) -> tuple[str, str, str]:
    """(channel_id, ts, user) of the oldest top-level question without replies."""
    readable = ws.truth().readable_channel_ids
    best: tuple[float, str, str, str] | None = None
    for cid, ts in ws.iter_message_keys():
        if cid not in readable:
            continue
        m = ws.message(cid, ts)
        if (
            m is None
            or "?" not in (m.get("text") or "")
            or m.get("subtype")
            or m.get("bot_id")
            or not m.get("user")
            or m.get("reply_count")
            or m.get("thread_ts", ts) != ts
        ):
            continue
        if best is None or float(ts) < best[0]:
            best = (float(ts), cid, ts, m["user"])
    assert best is not None, "the workspace has no unanswered question"
    return best[1], best[2], best[3]


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Report:
    pytest.importorskip("dbt.adapters.duckdb", reason="dbt-duckdb is not installed")
    tmp = tmp_path_factory.mktemp("report")
    ws = Workspace.generate(size="small", seed=23)
    cid, ts, user = _oldest_question(ws)
    ws.edit_message(cid, ts, HOSTILE_TEXT)
    ws.change_user(user, real_name=HOSTILE_NAME)
    target = Target(
        duckdb_path=str(tmp / "warehouse.duckdb"),
        dataset="slack",
        pipelines_dir=str(tmp / "pipelines"),
    )
    with SimulatorThread(ws, profile="unlimited") as sim:
        load(sim, target)
    unbuilt = tmp / "unbuilt.duckdb"  # loaded, models never built
    shutil.copyfile(target.duckdb_path, unbuilt)
    (tmp / "out").mkdir()
    proc = cli(
        [
            "--duckdb-path",
            target.duckdb_path,
            "--dataset",
            "slack",
            "-o",
            "out/report.html",
            "--oldest",
            str(OLDEST),
        ],
        tmp,
        tmp / "pipelines",
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (tmp / "out" / "report.html").read_text(encoding="utf-8")
    return Report(tmp, target, unbuilt, page, parse(page), proc.stdout, proc.stderr, (cid, ts))


# -- the figures ------------------------------------------------------------------------------


def _legend_buckets(report: Report) -> list[tuple[int, int, str]]:
    """(low, high, colour) of the heatmap's legend ("1", "2–4", ..., "100–177")."""
    found = []
    for item in report.doc.by_id("weekly-legend").children:
        swatch = item.find_all("span", "swatch")
        label = item.text()
        if not swatch or label == "none":
            continue
        colour = swatch[0].attrs["style"].removeprefix("background:")
        low, _, high = label.replace(",", "").partition("–")
        found.append((int(low), int(high or low), colour))
    return found


def test_weekly_messages_per_channel_match_the_models(report: Report) -> None:
    expected = {
        (cid, week.isoformat()): n
        for cid, week, n in report.sql(
            f"select channel_id, cast(date_trunc('week', day) as date), sum(messages) "
            f"from {ANALYTICS}.channel_activity_daily group by all"
        )
    }
    assert len({cid for cid, _ in expected}) > 3 and len(expected) > 100
    names = dict(
        report.sql(
            f"select distinct channel_id, channel_name from {ANALYTICS}.channel_activity_daily"
        )
    )
    totals: dict[str, int] = defaultdict(int)
    weeks: dict[str, int] = defaultdict(int)
    peaks: dict[str, tuple[int, str]] = {}
    for (cid, week), n in sorted(expected.items()):
        totals[cid] += n
        weeks[cid] += 1
        if n > peaks.get(cid, (0, ""))[0]:
            peaks[cid] = (n, week)

    table = rows(report.doc.by_id("weekly-activity"))
    # channels busiest first, each with its messages, share, active weeks and busiest week
    assert [tr.data("channel-id") for tr in table] == sorted(
        totals, key=lambda c: (-totals[c], names[c], c)
    )
    all_messages = sum(totals.values())
    for tr in table:
        cid = tr.data("channel-id")
        assert int(tr.data("messages")) == totals[cid]
        assert int(tr.data("active-weeks")) == weeks[cid]
        assert (int(tr.data("peak-messages")), tr.data("peak-week")) == peaks[cid]
        assert cells(tr) == [
            _label(names[cid]),
            "",  # the heatmap
            f"{totals[cid]:,}",
            f"{totals[cid] / all_messages:.1%}",
            f"{weeks[cid]:,}",
            f"{peaks[cid][0]:,} {peaks[cid][1]}",
        ]

    # the heatmap: one cell per week with messages, coloured as the legend says
    buckets = _legend_buckets(report)
    # from one message to the busiest week ("100–171"; "100" alone when that is the peak)
    assert buckets[0][0] == 1
    assert buckets[-1][1] == max(expected.values())
    shown: dict[tuple[str, str], int] = {}
    for tr in table:
        cid = tr.data("channel-id")
        [svg] = tr.find_all("svg")
        for cell in svg.find_all("rect"):
            if "data-week" not in cell.attrs:
                continue
            n = int(cell.data("messages"))
            shown[(cid, cell.data("week"))] = n
            assert cell.text() == f"week of {cell.data('week')}: {n:,}"
            [colour] = [c for low, high, c in buckets if low <= n <= high]
            assert cell.attrs["fill"] == colour, (cid, cell.data("week"), n)
    assert shown == expected


def _reply_times_by_sql(report: Report) -> dict[str, tuple[int, int, float | None, float | None]]:
    per_channel = report.sql(
        "select channel_id, count(*), count(seconds_to_first_reply), "
        "median(seconds_to_first_reply), quantile_cont(seconds_to_first_reply, 0.9) "
        f"from {ANALYTICS}.threads group by channel_id"
    )
    [overall] = report.sql(
        "select '', count(*), count(seconds_to_first_reply), median(seconds_to_first_reply), "
        f"quantile_cont(seconds_to_first_reply, 0.9) from {ANALYTICS}.threads"
    )
    return {r[0]: (r[1], r[2], r[3], r[4]) for r in [*per_channel, overall]}


def _seconds(value: str | None) -> float | None:
    return None if value is None else float(value)


def test_time_to_first_reply_per_channel_matches_the_models(report: Report) -> None:
    expected = _reply_times_by_sql(report)
    assert len(expected) > 3 and expected[""][1] > 20  # channels, answered threads overall
    names = dict(report.sql(f"select distinct channel_id, channel_name from {ANALYTICS}.threads"))

    table = rows(report.doc.by_id("reply-times"))
    shown = {
        tr.data("channel-id"): (
            int(tr.data("threads")),
            int(tr.data("answered")),
            _seconds(tr.attrs.get("data-median-seconds")),
            _seconds(tr.attrs.get("data-p90-seconds")),
        )
        for tr in table
    }
    assert shown.keys() == expected.keys()
    for cid, (threads, answered, median, p90) in expected.items():
        assert shown[cid][:2] == (threads, answered), cid
        for got, want in ((shown[cid][2], median), (shown[cid][3], p90)):
            assert got == (None if want is None else pytest.approx(want, rel=1e-9, abs=1e-6)), cid
    # all channels first, then the channels fastest median first
    assert table[0].data("channel-id") == ""
    medians = [expected[tr.data("channel-id")][2] for tr in table[1:]]
    assert medians == sorted(medians, key=lambda m: (m is None, m or 0.0))

    axis = [span.text() for span in report.doc.by_id("reply-times").find_all("span")]
    for tr in table:
        cid = tr.data("channel-id")
        threads, answered, median, p90 = expected[cid]
        # what a reader sees in the table
        assert cells(tr) == [
            "All channels" if cid == "" else _label(names[cid]),
            "",  # the bars
            f"{threads:,}",
            f"{answered:,}",
            f"{answered / threads:.0%}",
            format_duration(median),
            format_duration(p90),
        ]
        if median is None or p90 is None:
            continue
        # the bars: p90 then median, their lengths in proportion on the linear axis from 0
        [svg] = tr.find_all("svg")
        bars = svg.find_all("rect")
        assert [b.text() for b in bars] == [
            f"p90 {format_duration(p90)}",
            f"median {format_duration(median)}",
        ]
        p90_w, median_w = (float(b.attrs["width"]) for b in bars)
        if axis[0] != "0":  # a logarithmic axis (the times span > 40x): p90 the longer
            assert p90_w >= median_w, cid
        elif median_w > 2.0:  # (2.0: the shortest bar drawn; widths are rounded to 0.1)
            assert median_w == pytest.approx(p90_w * median / p90, abs=0.15), cid


def test_oldest_unanswered_questions_in_order(report: Report) -> None:
    expected = report.sql(
        "select channel_id, ts, channel_name, asked_by_name, asked_at, text, replies "
        f"from {ANALYTICS}.unanswered_questions order by asked_at, channel_id, ts limit {OLDEST}"
    )
    [(total,)] = report.sql(f"select count(*) from {ANALYTICS}.unanswered_questions")
    assert len(expected) == OLDEST < total
    table = rows(report.doc.by_id("unanswered"))
    assert [(tr.data("channel-id"), tr.data("ts")) for tr in table] == [
        (r[0], r[1]) for r in expected
    ]
    for i, (tr, (_cid, _ts, channel, by, at, text, replies)) in enumerate(
        zip(table, expected, strict=True), 1
    ):
        shown = cells(tr)
        assert shown[0] == str(i)
        assert shown[1] == at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
        assert shown[3:6] == [channel_label(channel), by, f"{replies:,}"]
        assert shown[6] == shorten(text, QUESTION_CHARS)
    # the edited question is the oldest: its text and asker shown as text, not markup
    assert (table[0].data("channel-id"), table[0].data("ts")) == report.hostile
    assert cells(table[0])[6] == HOSTILE_TEXT
    assert cells(table[0])[4] == HOSTILE_NAME


def test_totals_and_summary_lines(report: Report) -> None:
    [(messages,)] = report.sql(f"select sum(messages) from {ANALYTICS}.channel_activity_daily")
    [(threads, answered)] = report.sql(
        f"select count(*), count(seconds_to_first_reply) from {ANALYTICS}.threads"
    )
    [(questions, unanswered)] = report.sql(
        f"select count(*), count(*) filter (where not is_answered) from {ANALYTICS}.questions"
    )
    cards = {c.data("total"): c for c in report.doc.by_id("totals").find_all("div", "card")}
    assert int(cards["messages"].data("value")) == messages
    assert int(cards["threads"].data("value")) == threads
    assert int(cards["threads"].data("answered")) == answered
    assert int(cards["questions"].data("value")) == questions
    assert int(cards["unanswered"].data("value")) == unanswered
    assert f"{messages:,}" in cards["messages"].text()
    assert f"{unanswered:,}" in cards["unanswered"].text()

    lines = [li.text() for li in report.doc.by_id("summary").find_all("li")]
    assert len(lines) == 3
    assert lines[0].startswith(f"Threads: {threads:,}, {answered / threads:.0%} answered")
    assert lines[2].startswith(f"Unanswered questions: {unanswered:,} of {questions:,}")
    # the command printed the path and the same three lines
    out = report.stdout.strip().splitlines()
    assert len(out) == 4 and "out/report.html" in out[0], report.stdout
    assert [line.strip() for line in out[1:]] == lines


# -- the page ---------------------------------------------------------------------------------


def test_page_is_self_contained_and_escapes_slack_text(report: Report) -> None:
    page = report.page
    assert "<script" not in page.lower()
    assert "<link" not in page.lower() and "@import" not in page
    assert not re.search(r"url\(\s*['\"]?\s*(https?:)?//", page)
    for node in report.doc.iter():
        for name, value in node.attrs.items():
            if name in ("src", "href", "xlink:href", "action", "poster", "srcset"):
                assert not re.match(r"\s*(https?:)?//", value), (node.tag, name, value)
        assert node.tag not in ("script", "iframe", "img", "object", "embed", "link")
    # the hostile Slack text is text: no markup came through unescaped
    assert "evil.example" not in "".join(
        v for n in report.doc.iter() for k, v in n.attrs.items() if k in ("href", "src")
    )
    assert "<b>bold</b>" not in page and "&lt;b&gt;bold&lt;/b&gt;" in page
    assert HOSTILE_NAME not in page and "Eve &lt;i&gt;&amp;&lt;/i&gt; &quot;Mallory&quot;" in page
    assert len(report.doc.find_all("svg")) > 20 and not report.stderr.strip()


# -- bad input --------------------------------------------------------------------------------


def _assert_user_error(proc: subprocess.CompletedProcess[str], *needles: str) -> None:
    assert proc.returncode == 2, (proc.returncode, proc.stdout, proc.stderr)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), lines
    for needle in needles:
        assert needle in lines[0], lines[0]
    assert "Traceback" not in proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("case", "args", "needles"),
    [
        ("no such DuckDB file", ["--duckdb-path", "missing.duckdb"], ["--duckdb-path", "missing"]),
        (
            "no models and --no-build",
            ["--duckdb-path", "unbuilt.duckdb", "--no-build"],
            ["no analytics models", "slack_analytics", "--no-build"],
        ),
        (
            "no such dataset",
            ["--duckdb-path", "unbuilt.duckdb", "--dataset", "other"],
            ["--dataset other"],
        ),
        (
            "output folder missing",
            ["--duckdb-path", "unbuilt.duckdb", "-o", "nowhere/report.html"],
            ["--output", "nowhere"],
        ),
        ("output is a folder", ["--duckdb-path", "unbuilt.duckdb", "-o", "out"], ["--output"]),
        ("negative --oldest", ["--duckdb-path", "unbuilt.duckdb", "--oldest", "-1"], ["--oldest"]),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    report: Report, case: str, args: list[str], needles: list[str]
) -> None:
    before = sorted(p.name for p in report.tmp.iterdir())
    proc = cli(args, report.tmp, report.tmp / "pipelines")
    _assert_user_error(proc, *needles)
    assert sorted(p.name for p in report.tmp.iterdir()) == before, case  # nothing written


def _label(name: str) -> str:
    """How the page names a channel: '#name', and a DM 'DM with U123' as it is, cut to 28
    characters (group DMs' names list their members)."""
    from ingest.analytics.figures import shorten

    return shorten(name if name.startswith("DM with ") else f"#{name}", 28)
