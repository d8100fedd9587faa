"""The live progress panel and the summary show what a user needs to see."""

from rich.console import Console

from ingest.cli.report import progress_panel, summary_tables
from ingest.load.run import LoadResult
from ingest.source import LoadProgress


class FakeStats:
    def as_dict(self):
        return {
            "conversations.history": {
                "requests": 120,
                "n_429": 0,
                "pages": 120,
                "current_rate_per_min": 3000.0,
                "retries": 2,
            }
        }


def render(obj) -> str:
    console = Console(record=True, width=160)
    console.print(obj)
    return console.export_text()


def test_progress_panel_shows_channels_messages_and_budget():
    p = LoadProgress()
    p.set_total(10)
    p.channel_done("C1")
    p.add_messages(1234)
    p.add_replies(56)
    p.attach_stats(FakeStats())
    text = render(progress_panel(p))
    assert "channels 1/10" in text and "messages 1,234" in text and "replies 56" in text
    assert "conversations.history" in text and "budget 3,000" in text


def test_summary_lists_tables_requests_and_skipped():
    p = LoadProgress()
    p.channel_skipped("C9", "not_in_channel")
    result = LoadResult(
        pipeline_name="slack_x",
        elapsed_s=1.0,
        progress=p.snapshot(),
        requests=FakeStats().as_dict(),
        row_counts={"messages": 42},
    )
    text = "\n".join(render(t) for t in summary_tables(result))
    assert "messages" in text and "42" in text
    assert "conversations.history" in text and "120" in text
    assert "C9" in text and "not_in_channel" in text


# -- issue 16: numbers on screen that add up and say their unit -------------------------


def _progress_after(real_s: float) -> LoadProgress:
    p = LoadProgress()
    p.started -= real_s  # as if the load had run for real_s seconds
    p.attach_stats(FakeStats())
    return p


def test_time_scaled_rates_are_per_slack_minute_beside_the_budget():
    # 120 requests in 60 real seconds at 60x = 60 Slack minutes: 2 per Slack minute
    text = render(progress_panel(_progress_after(60.0), time_scale=60.0))
    assert "2/Slack min / budget 3,000/Slack min" in text, text
    assert "time scale 60x" in text
    assert "120/min" not in text  # the real-minute rate beside a Slack-minute budget
    # unscaled: real minutes, as before
    text = render(progress_panel(_progress_after(60.0)))
    assert "120/min / budget 3,000/min" in text and "Slack min" not in text, text


def _result(p: LoadProgress) -> LoadResult:
    return LoadResult(
        pipeline_name="slack_x",
        elapsed_s=9.0,
        progress=p.snapshot(),
        requests={
            "conversations.history": {
                "requests": 120,
                "pages": 120,
                "wait_budget_s": 388.5,
                "wait_network_s": 41.0,
            }
        },
        row_counts={"messages": 42},
    )


def test_summed_waits_are_labelled_as_sums():
    text = "\n".join(render(t) for t in summary_tables(_result(LoadProgress())))
    assert "budget wait s (sum)" in text and "network s (sum)" in text
    assert "summed over concurrent requests" in text and "388.5" in text


def test_channel_counts_add_up_and_skipped_channels_have_names():
    p = LoadProgress()
    p.set_total(13)  # readable when planned
    for i in range(13):
        p.channel_done(f"C{i:02d}", {"messages": 1, "replies": 0})
    for i in range(4):  # not members: planned as skipped
        p.channel_skipped(f"CX{i}", "the token is not a member")
    names = {"CX0": "lobby", "C00": "general"}
    text = "\n".join(render(t) for t in summary_tables(_result(p), names))
    assert "17 selected: 13 read, 4 not read" in text, text
    assert "13 of 13" not in text
    assert "#lobby (CX0)" in text and "CX1" in text


def test_flow_summary_and_artifacts_count_channels_and_name_them(tmp_path, capsys):
    from flows.artifacts import channel_rows, summary_markdown
    from flows.cli import _print_summary
    from ingest.load.run import Target

    shards = [
        {
            "label": "1/1",
            "channels": ["C1", "C2"],
            "state": "ok",
            "progress": {
                "messages": 3,
                "replies": 0,
                "channels": {
                    "C1": {"messages": 2, "replies": 0},
                    "C2": {"messages": 1, "replies": 0},
                },
            },
        }
    ]
    skipped = {"C9": "the token is not a member"}
    rows = channel_rows(
        Target(duckdb_path=str(tmp_path / "none.duckdb")),
        shards,
        skipped,
        names={"C1": "general", "C2": "random", "C9": "lobby"},
    )
    assert [(r["channel"], r["name"]) for r in rows] == [
        ("C1", "general"),
        ("C2", "random"),
        ("C9", "lobby"),
    ]
    summary = {
        "ok": True,
        "mode": "in-process",
        "n_shards": 1,
        "wall_s": 1.0,
        "channels_planned": 2,
        "skipped": skipped,
        "shards": shards,
        "channels": rows,
        "requests": {"conversations.history": {"requests": 5, "wait_budget_s": 9.5}},
        "target": {"destination": "duckdb", "duckdb_path": "w.duckdb", "dataset": "slack"},
    }
    md = summary_markdown(summary)
    assert "channels: 3 selected: 2 read, 1 not read" in md, md
    assert "| #lobby (C9) | the token is not a member |" in md
    assert "budget wait s (summed over requests)" in md
    _print_summary(summary, None)
    out = capsys.readouterr().out
    assert "channels 3 selected: 2 read, 1 not read" in out, out
    assert "#lobby (C9)" in out


def test_flow_channel_rows_take_names_from_the_dataset(tmp_path):
    import duckdb

    from flows.artifacts import channel_rows
    from ingest.load.run import Target

    db = tmp_path / "w.duckdb"
    con = duckdb.connect(str(db))
    con.execute("create schema slack; create table slack.channels (id text, name text)")
    con.execute("insert into slack.channels values ('C1', 'general'), ('C9', 'lobby')")
    con.close()
    shards = [
        {
            "label": "1/1",
            "channels": ["C1"],
            "progress": {"channels": {"C1": {"messages": 1, "replies": 0}}},
        }
    ]
    rows = channel_rows(Target(duckdb_path=str(db)), shards, {"C9": "not a member"})
    assert [(r["channel"], r["name"]) for r in rows] == [("C1", "general"), ("C9", "lobby")]
