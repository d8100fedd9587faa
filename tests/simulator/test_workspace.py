"""Generation: determinism, sizes, ts layout, ids, truth consistency (no HTTP needed)."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from ingest.simulator import DEFAULT_TOKEN, SIZES, SimulatorConfigError, Workspace
from ingest.simulator.model import GEN_END, GEN_START, HORIZON_US, US, parse_ts

from .conftest import count_kinds

TS_RE = re.compile(r"^\d{10}\.\d{6}$")


@pytest.fixture(scope="module")
def small() -> Workspace:
    return Workspace.generate("small", 0)


def _all_keys(ws: Workspace, readable_only: bool = False) -> list[tuple[str, str]]:
    out = []
    for ch in ws.channels:
        if readable_only and not ch.is_member:
            continue
        tops, replies = ws._channel_keys(ch)
        out += [(ch.id, ts) for ts in tops + replies]
    return out


def test_sizes_are_listed() -> None:
    assert SIZES == ("tiny", "small", "medium", "large")


def test_unknown_size_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="unknown workspace size 'huge'"):
        Workspace.generate("huge")
    with pytest.raises(SimulatorConfigError):
        Workspace.generate("huge")


@pytest.mark.parametrize(
    ("size", "users", "channels", "messages"),
    [("tiny", 8, 6, 400), ("small", 50, 20, 10_000), ("medium", 500, 200, 200_000)],
)
def test_sizes_roughly_as_specified(size: str, users: int, channels: int, messages: int) -> None:
    s = Workspace.generate(size, 3).summary()
    assert users <= s["users"] <= users * 1.1 + 2  # + integration bots and our app user
    assert s["channels"] == channels
    assert 0.7 * messages <= s["messages"] <= 1.3 * messages
    assert 0.15 <= s["replies"] / s["messages"] <= 0.45


def test_large_is_derived_not_materialized() -> None:
    ws = Workspace.generate("large", 0)
    s = ws.summary()
    assert s["users"] >= 5000 and s["channels"] == 2000
    assert 1_700_000 <= s["messages"] <= 2_300_000
    # only metadata is stored: nothing per message except thread parents
    assert all(not ch.extra for ch in ws.channels)
    assert sum(len(ch.parents) for ch in ws.channels) < s["messages"] / 10
    sizes = sorted((ch.n_top for ch in ws.channels), reverse=True)
    assert sizes[0] > 50 * sizes[len(sizes) // 2]  # skewed: a few huge channels, many small


def test_threads_have_a_long_tail(small: Workspace) -> None:
    tiny = Workspace.generate("tiny", 0)
    for ws, at_least in ((tiny, 16), (small, 100)):
        readable = [ch for ch in ws.channels if ch.is_member]
        assert max(max(ch.nrep, default=0) for ch in readable) >= at_least
    counts = [n for ch in small.channels for n in ch.nrep]
    assert sum(1 for n in counts if n <= 3) > len(counts) / 2  # most threads are short


def test_determinism() -> None:
    a, b = Workspace.generate("small", 7), Workspace.generate("small", 7)
    assert a.truth() == b.truth()
    assert a.team_id == b.team_id
    ch = a.channels[1]
    us, ref = next(a.iter_history(ch, 1 << 62, -1))
    assert a.render(ch, us, ref) == b.render(b.channels[1], us, ref)
    c = Workspace.generate("small", 8)
    assert c.truth().messages != a.truth().messages
    assert c.team_id != a.team_id


def test_ts_unique_well_formed_and_in_the_past(small: Workspace) -> None:
    medium = Workspace.generate("medium", 1)
    for ws in (small, medium):
        keys = _all_keys(ws)
        dupes = [k for k, n in Counter(keys).items() if n > 1]
        assert not dupes
        for _, ts in keys[:: max(1, len(keys) // 5000)]:
            assert TS_RE.match(ts)
            us = parse_ts(ts)
            assert (
                us is not None
                and GEN_START * US <= us < HORIZON_US < GEN_END * US + 10 * 86400 * US
            )


def test_top_level_ts_monotone_and_replies_after_parent(small: Workspace) -> None:
    for ch in small.channels:
        tops = [small.top_us(ch, i) for i in range(ch.n_top)]
        assert tops == sorted(tops) and len(set(tops)) == len(tops)
        assert tops == small.all_top_us(ch)  # the inlined fast path agrees
        for p, n in zip(ch.parents, ch.nrep, strict=True):
            th = small.thread(ch, p, n)
            reps = [small.reply_us(ch, p, j, th) for j in range(n)]
            assert reps == small.all_reply_us(ch, p, n, th)
            assert reps == sorted(reps) and reps[0] > tops[p]
            for j, us in enumerate(reps):
                assert small.resolve(ch, us) == ("r", p, j)
        for i in range(0, ch.n_top, 7):
            assert small.resolve(ch, tops[i]) == ("t", i)
        assert small.resolve(ch, tops[0] + 1) is None


def test_ids_look_like_slack(small: Workspace) -> None:
    assert re.match(r"^T[0-9A-Z]{8}$", small.team_id)
    assert all(re.match(r"^U[0-9A-Z]{10}$", u.id) for u in small.users)
    assert all(re.match(r"^C[0-9A-Z]{10}$", ch.id) for ch in small.channels)
    assert len({u.id for u in small.users}) == len(small.users)
    assert small.token == DEFAULT_TOKEN


def test_workspace_has_every_kind_of_user_and_channel(small: Workspace) -> None:
    assert any(u.deleted for u in small.users)
    assert any(u.is_bot and u is not small.app_user for u in small.users)
    assert small.app_user.is_bot and small.app_user.bot_id.startswith("B")
    chans = small.channels
    assert sum(ch.is_general for ch in chans) == 1
    assert any(ch.is_private and ch.is_member for ch in chans)
    assert any(ch.is_private and not ch.is_member for ch in chans)
    assert any(not ch.is_private and not ch.is_member for ch in chans)
    assert any(ch.is_archived for ch in chans)


def test_message_kinds_present(small: Workspace) -> None:
    seen: Counter[str] = Counter()
    for ch in small.channels:
        count_kinds(
            (small.render(ch, us, ref) for us, ref in small.iter_history(ch, 1 << 62, -1)), seen
        )
    for key in ("plain", "bot_message", "channel_join", "thread_broadcast"):
        assert seen[key] > 0, key
    for key in ("reactions", "files", "attachments", "blocks", "edited", "reply_count", "root"):
        assert seen[key] > 0, key


def test_truth_matches_iter_message_keys(small: Workspace) -> None:
    t = small.truth()
    assert set(small.iter_message_keys()) == t.messages
    assert t.message_count() == len(t.messages)
    assert 0 < t.reply_count() < t.message_count()
    assert set(t.readable_channel_ids) <= set(t.channel_ids)
    private_hidden = {ch.id for ch in small.channels if ch.is_private and not ch.is_member}
    assert not private_hidden & t.channel_ids
    assert {c for c, _ in t.messages} <= t.readable_channel_ids
    assert {c for c, _ in t.members} == t.readable_channel_ids
    assert small.app_user.id in t.user_ids and len(t.user_ids) == len(small.users)
