"""A history page of 999 that times out is asked again with a smaller `limit`."""

from __future__ import annotations

from ingest.slack.client import STEP_DOWN_FLOOR, step_down


def test_timeouts_halve_the_page_down_to_the_floor():
    p = {"channel": "C1", "limit": "999"}
    smaller = step_down(p, "timeout")
    assert smaller == {"channel": "C1", "limit": "499"}
    assert step_down(smaller, "http_504") == {"channel": "C1", "limit": "249"}
    assert step_down({"limit": "249"}, "request_timeout") == {"limit": str(STEP_DOWN_FLOOR)}
    assert step_down({"limit": str(STEP_DOWN_FLOOR)}, "timeout") is None


def test_other_failures_keep_the_page():
    assert step_down({"limit": "999"}, "connection_reset") is None
    assert step_down({"limit": "999"}, "http_500") is None
    assert step_down({"channel": "C1"}, "timeout") is None
