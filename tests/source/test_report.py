"""The live progress panel and the summary show what a user needs to see."""

from rich.console import Console

from ingest.pipeline import LoadResult
from ingest.report import progress_panel, summary_tables
from ingest.source import LoadProgress


class FakeStats:
    def as_dict(self):
        return {"conversations.history": {"requests": 120, "n_429": 0, "pages": 120,
                                          "current_rate_per_min": 3000.0, "retries": 2}}


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
    result = LoadResult(pipeline_name="slack_x", elapsed_s=1.0, progress=p.snapshot(),
                        requests=FakeStats().as_dict(), row_counts={"messages": 42})
    text = "\n".join(render(t) for t in summary_tables(result))
    assert "messages" in text and "42" in text
    assert "conversations.history" in text and "120" in text
    assert "C9" in text and "not_in_channel" in text
