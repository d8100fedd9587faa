"""Per-channel incremental state: windows, thread refresh decisions, advancing."""

from ingest.source.cursors import (
    BEGINNING,
    ChannelState,
    ThreadFetch,
    Window,
    advance,
    is_thread_parent,
    plan_thread,
    plan_windows,
)
from ingest.source.settings import format_ts, ts_to_micros

DAY = 86_400_000_000
NOW = ts_to_micros("1700000000.000000")


def test_first_run_reads_everything_from_start_inclusive():
    w = plan_windows(ChannelState(), None, None, NOW, 7 * DAY)
    assert w == [Window(BEGINNING, None)]
    start = "1600000000.000000"
    w = plan_windows(ChannelState(), start, "1650000000.000000", NOW, 7 * DAY)
    # oldest is exclusive in Slack: 1 microsecond before start keeps a message at start
    assert w == [Window("1599999999.999999", "1650000000.000000")]


def test_incremental_run_rereads_lookback_but_not_below_loaded_range():
    cursor = format_ts(NOW - 1 * DAY)
    st = ChannelState(cursor=cursor, from_ts=BEGINNING)
    w = plan_windows(st, None, None, NOW, 7 * DAY)
    assert w == [Window(format_ts(NOW - 7 * DAY), None)]
    # lookback 0: continue exactly after the cursor
    assert plan_windows(st, None, None, NOW, 0) == [Window(cursor, None)]
    # loaded range starts after the lookback floor: never re-read below from_ts
    st2 = ChannelState(cursor=cursor, from_ts=format_ts(NOW - 2 * DAY))
    assert plan_windows(st2, format_ts(NOW - 2 * DAY), None, NOW, 7 * DAY)[0].oldest == format_ts(
        NOW - 2 * DAY
    )


def test_earlier_start_date_fetches_only_missing_older_part():
    st = ChannelState(cursor=format_ts(NOW - 30 * DAY), from_ts="1600000000.000000")
    w = plan_windows(st, "1500000000.000000", None, NOW, 0)
    assert Window("1499999999.999999", "1600000000.000000") in w
    assert Window(format_ts(NOW - 30 * DAY), None) in w


def test_end_date_before_cursor_reads_nothing_new():
    st = ChannelState(cursor=format_ts(NOW - 10 * DAY), from_ts=BEGINNING)
    assert plan_windows(st, None, format_ts(NOW - 20 * DAY), NOW, 0) == []


def test_thread_refresh_decision():
    st = ChannelState(threads={"100.000001": ["150.000001", 3]})
    parent = {
        "ts": "100.000001",
        "thread_ts": "100.000001",
        "reply_count": 3,
        "latest_reply": "150.000001",
    }
    assert is_thread_parent(parent)
    assert plan_thread(parent, st) is None  # unchanged: nothing fetched
    # a new reply: only replies after the known latest, expecting the new count
    assert plan_thread(
        {**parent, "latest_reply": "160.000001", "reply_count": 4}, st
    ) == ThreadFetch(since="150.000001", known=True, expect=4, prev_count=3)
    # latest went backwards, or the count changed alone: a reply was deleted -> whole thread
    assert plan_thread(
        {**parent, "latest_reply": "140.000001", "reply_count": 2}, st
    ) == ThreadFetch(since=None, known=True, expect=None, prev_count=3)
    assert plan_thread({**parent, "reply_count": 2}, st) == ThreadFetch(None, True, None, 3)
    # never seen: whole thread
    assert plan_thread(
        {**parent, "ts": "200.000000", "thread_ts": "200.000000"}, st
    ) == ThreadFetch(None, False, None)
    # older state format (latest_reply only) still works
    legacy = ChannelState(threads={"100.000001": "150.000001"})
    assert plan_thread(parent, legacy) is None
    assert not is_thread_parent({"ts": "1.1", "thread_ts": "0.5"})  # a reply
    assert not is_thread_parent({"ts": "1.1"})


def test_advance_moves_cursor_and_prunes_threads_outside_lookback():
    old = ChannelState(
        cursor="100.000000",
        from_ts=BEGINNING,
        threads={format_ts(NOW - 10 * DAY): "1.0", format_ts(NOW - DAY): "2.0"},
    )
    new = advance(
        old,
        max_ts_seen=format_ts(NOW),
        start=None,
        seen_threads={format_ts(NOW - 2 * DAY): "3.0"},
        now_micros=NOW,
        lookback_micros=7 * DAY,
    )
    assert new.cursor == format_ts(NOW)
    assert format_ts(NOW - 10 * DAY) not in new.threads
    assert new.threads[format_ts(NOW - 2 * DAY)] == "3.0"
    assert new.threads[format_ts(NOW - DAY)] == "2.0"
    assert ChannelState.from_dict(new.to_dict()).threads == {
        format_ts(NOW - 2 * DAY): ["3.0", None],
        format_ts(NOW - DAY): ["2.0", None],
    }
    # nothing seen: cursor unchanged; from_ts keeps the widest range
    same = advance(
        old, max_ts_seen=None, start="50.000000", seen_threads={}, now_micros=NOW, lookback_micros=0
    )
    assert same.cursor == "100.000000" and same.from_ts == BEGINNING


def test_merge_states_prefers_most_advanced_cursor():
    from ingest.source.cursors import merge_states

    own = {"C1": {"cursor": "200.000000"}, "C2": {"cursor": "100.000000"}}
    seeds = {
        "C1": {"cursor": "150.000000"},
        "C2": {"cursor": "300.000000"},
        "C3": {"cursor": "5.000000"},
    }
    merged = merge_states(own, seeds)
    assert merged["C1"]["cursor"] == "200.000000"
    assert merged["C2"]["cursor"] == "300.000000"
    assert merged["C3"]["cursor"] == "5.000000"


def test_threads_are_stored_as_one_compact_string():
    from ingest.source.cursors import decode_threads, encode_threads

    st = ChannelState(
        cursor="300.000000",
        from_ts=BEGINNING,
        threads={"100.000001": ["150.000001", 3], "110.000002": ["120.5", None]},
    )
    stored = st.to_dict()
    assert isinstance(stored["threads"], str)
    assert ChannelState.from_dict(stored) == st
    # threads seen this run override the held ones in the stored form; `st` is unchanged
    newer = {"100.000001": ["160.000001", 4], "200.000003": ["210.000000", 1]}
    over = ChannelState.from_dict(st.to_dict(newer)).threads
    assert over == {
        "100.000001": ["160.000001", 4],
        "110.000002": ["120.5", None],
        "200.000003": ["210.000000", 1],
    }
    assert st.threads["100.000001"] == ["150.000001", 3]
    # states written before (a dict; values a list or latest_reply alone) still load
    legacy = {"cursor": "1.0", "threads": {"100.000001": ["150.000001", 3], "5.5": "6.6"}}
    assert ChannelState.from_dict(legacy).threads == {
        "100.000001": ["150.000001", 3],
        "5.5": ["6.6", None],
    }
    assert decode_threads("") == {} and decode_threads(None) == {}
    assert encode_threads({}) == ""
    # the point of it: held in memory, the string is a fraction of the dict (~41 vs ~256
    # bytes per thread)
    import tracemalloc

    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        many = {format_ts(NOW - i * 1_000_000): [format_ts(NOW + i), 1000 + i] for i in range(5000)}
        as_dict = tracemalloc.get_traced_memory()[0] - base
        text = encode_threads(many)
        as_text = tracemalloc.get_traced_memory()[0] - base - as_dict
    finally:
        tracemalloc.stop()
    assert as_text < 0.25 * as_dict, (as_text, as_dict)
    assert decode_threads(text) == many
