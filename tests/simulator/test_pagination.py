"""Cursor pagination: completeness against the truth, short/empty pages, limits, ordering."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from ingest.simulator import Workspace

from .conftest import Client, Env, Starter


async def _load_everything(
    c: Client, history_limit: int, replies_limit: int
) -> tuple[set[str], list[tuple[str, str]]]:
    """A perfect loader: channels, history, then the replies of every thread parent."""
    channels = set()
    for page in await c.pages(
        "conversations.list", types="public_channel,private_channel,im,mpim", limit=7
    ):  # ims carry no is_member: listed ims are readable
        channels |= {ch["id"] for ch in page["channels"] if ch.get("is_member", True)}
    keys: list[tuple[str, str]] = []
    for cid in sorted(channels):
        parents = []
        for page in await c.pages("conversations.history", channel=cid, limit=history_limit):
            for m in page["messages"]:
                keys.append((cid, m["ts"]))
                if m.get("thread_ts") == m["ts"]:
                    parents.append(m["ts"])
        for ts in parents:
            seen_parent = 0
            for page in await c.pages(
                "conversations.replies", channel=cid, ts=ts, limit=replies_limit
            ):
                for m in page["messages"]:
                    if m["ts"] == ts:
                        seen_parent += 1
                        continue
                    assert m["thread_ts"] == ts
                    if m.get("subtype") != "thread_broadcast":  # already seen in history
                        keys.append((cid, m["ts"]))
            assert seen_parent >= 1
    return channels, keys


@pytest.mark.parametrize(
    ("size", "h_limit", "r_limit"), [("tiny", 7, 4), ("tiny", 200, 1000), ("small", 150, 40)]
)
async def test_full_pagination_equals_truth(
    serve: Starter, size: str, h_limit: int, r_limit: int
) -> None:
    env = await serve(size)
    truth = env.ws.truth()
    channels, keys = await _load_everything(env.client, h_limit, r_limit)
    assert channels == set(truth.readable_channel_ids)
    assert len(keys) == len(set(keys)), "duplicates"
    assert set(keys) == truth.messages


async def test_cursors_are_opaque_and_end_at_empty_string(tiny: Env) -> None:
    ch = tiny.ws.channels[1]
    pages = await tiny.client.pages("conversations.history", channel=ch.id, limit=10)
    assert len(pages) > 3
    for page in pages[:-1]:
        cur = page["response_metadata"]["next_cursor"]
        assert cur.endswith("=") and page["has_more"] is True
        base64.urlsafe_b64decode(cur)  # urlsafe base64
    assert pages[-1]["response_metadata"]["next_cursor"] == "" and pages[-1]["has_more"] is False
    users = await tiny.client.pages("users.list", limit=3)
    assert all(p["response_metadata"]["next_cursor"].endswith("=") for p in users[:-1])


async def test_short_pages_in_the_middle(serve: Starter) -> None:
    env = await serve("small")
    ch = env.ws.channels[1]
    pages = await env.client.pages("conversations.history", channel=ch.id, limit=20)
    sizes = [len(p["messages"]) for p in pages]
    assert any(0 < n < 20 for n in sizes[:-1]), sizes
    assert sum(sizes) == len({m["ts"] for p in pages for m in p["messages"]})


async def test_invalid_cursor(tiny: Env) -> None:
    c = tiny.client
    ch = tiny.ws.channels[1]
    for bad in ("garbage", "bm90IGpzb24=", base64.urlsafe_b64encode(b'{"k":"u","o":0}').decode()):
        r = await c.call("conversations.history", channel=ch.id, cursor=bad)
        assert (r.status, r.error) == (200, "invalid_cursor"), bad
    # a history cursor of another channel is not valid here
    first = await c.call("conversations.history", channel=ch.id, limit=2)
    other = tiny.ws.channels[0]
    r = await c.call(
        "conversations.history",
        channel=other.id,
        cursor=first.body["response_metadata"]["next_cursor"],
    )
    assert r.error == "invalid_cursor"
    for method in ("users.list", "conversations.list"):
        assert (await c.call(method, cursor="%%%")).error == "invalid_cursor"
    assert (
        await c.call("conversations.members", channel=ch.id, cursor="abc")
    ).error == "invalid_cursor"


async def test_conversations_list_exclude_archived_can_give_empty_page_with_cursor(
    serve: Starter,
) -> None:
    env = await serve("small")
    pages = await env.client.pages(
        "conversations.list", types="public_channel,private_channel", exclude_archived=True, limit=1
    )
    assert any(not p["channels"] and p["response_metadata"]["next_cursor"] for p in pages)
    got = {ch["id"] for p in pages for ch in p["channels"]}
    want = {ch.id for ch in env.ws.visible_channels() if not ch.is_archived}
    assert got == want
    assert all(not ch["is_archived"] for p in pages for ch in p["channels"])


async def test_conversations_list_types(tiny: Env) -> None:
    c = tiny.client
    ws = tiny.ws
    public = {ch["id"] for p in await c.pages("conversations.list") for ch in p["channels"]}
    assert public == {ch.id for ch in ws.channels if not ch.is_private}
    private = {
        ch["id"]
        for p in await c.pages("conversations.list", types="private_channel")
        for ch in p["channels"]
    }
    assert private == {ch.id for ch in ws.channels if ch.is_private and ch.is_member}
    dms = {
        ch["id"] for ch in (await c.call("conversations.list", types="im,mpim")).body["channels"]
    }
    assert dms == {ch.id for ch in ws.dms if ch.is_member}
    assert (
        await c.call("conversations.list", types="public_channel,bogus")
    ).error == "invalid_types"


async def test_history_newest_first_and_bounds(tiny: Env) -> None:
    c = tiny.client
    ch = tiny.ws.channels[1]
    all_ts = [
        m["ts"]
        for p in await c.pages("conversations.history", channel=ch.id, limit=50)
        for m in p["messages"]
    ]
    assert all_ts == sorted(all_ts, reverse=True)
    lo, hi = all_ts[30], all_ts[10]

    async def window(**kw: Any) -> list[str]:
        pages = await c.pages("conversations.history", channel=ch.id, limit=7, **kw)
        return [m["ts"] for p in pages for m in p["messages"]]

    assert await window(oldest=lo, latest=hi) == all_ts[11:30]
    assert await window(oldest=lo, latest=hi, inclusive=True) == all_ts[10:31]
    assert await window(oldest=lo, latest=hi, inclusive=1) == all_ts[10:31]
    assert await window(oldest=lo) == all_ts[:30]
    assert await window(latest=hi) == all_ts[11:]
    assert await window(oldest="0", inclusive="true") == all_ts
    assert await window(oldest=all_ts[0]) == []
    for key, code in (("oldest", "invalid_ts_oldest"), ("latest", "invalid_ts_latest")):
        r = await c.call("conversations.history", channel=ch.id, **{key: "yesterday"})
        assert r.error == code


async def test_history_cursor_survives_new_messages(tiny: Env) -> None:
    c = tiny.client
    ch = tiny.ws.channels[1]
    first = await c.call("conversations.history", channel=ch.id, limit=5)
    tiny.ws.post_message(ch.id, text="posted between pages")
    rest = await c.pages(
        "conversations.history",
        channel=ch.id,
        limit=5,
        cursor=first.body["response_metadata"]["next_cursor"],
    )
    got = [m["ts"] for m in first.body["messages"]] + [m["ts"] for p in rest for m in p["messages"]]
    assert len(got) == len(set(got))
    assert all(m["text"] != "posted between pages" for p in rest for m in p["messages"])


def _thread(ws: Workspace, min_replies: int) -> tuple[str, str, int]:
    for ch in ws.channels:
        if not ch.is_member:
            continue
        for p, n in zip(ch.parents, ch.nrep, strict=True):
            if n >= min_replies:
                return ch.id, ws.message(ch.id, _ts(ws.top_us(ch, p)))["ts"], n  # type: ignore[index]
    raise AssertionError("no such thread")


def _ts(us: int) -> str:
    return f"{us // 1_000_000:010d}.{us % 1_000_000:06d}"


@pytest.mark.parametrize("every_page", [True, False])
async def test_replies_parent_first(serve: Starter, every_page: bool) -> None:
    env = await serve("tiny", replies_parent_every_page=every_page)
    cid, ts, n = _thread(env.ws, 16)
    pages = await env.client.pages("conversations.replies", channel=cid, ts=ts, limit=5)
    assert len(pages) >= 3
    assert pages[0]["messages"][0]["ts"] == ts and pages[0]["messages"][0]["reply_count"] == n
    for p in pages[1:]:
        assert (p["messages"][0]["ts"] == ts) is every_page
    replies = [m["ts"] for p in pages for m in p["messages"] if m["ts"] != ts]
    assert replies == sorted(replies) and len(replies) == n == len(set(replies))


async def test_replies_bounds_filter_replies_not_parent(tiny: Env) -> None:
    cid, ts, n = _thread(tiny.ws, 16)
    c = tiny.client
    full = [
        m["ts"]
        for m in (await c.call("conversations.replies", channel=cid, ts=ts)).body["messages"]
    ]
    assert full[0] == ts and len(full) == n + 1
    r = await c.call("conversations.replies", channel=cid, ts=ts, oldest=full[3], latest=full[8])
    assert [m["ts"] for m in r.body["messages"]] == [ts] + full[4:8]
    r = await c.call(
        "conversations.replies", channel=cid, ts=ts, oldest=full[3], latest=full[8], inclusive=True
    )
    assert [m["ts"] for m in r.body["messages"]] == [ts] + full[3:9]


async def test_replies_of_a_non_parent_returns_just_it(tiny: Env) -> None:
    ws = tiny.ws
    ch = ws.channels[1]
    plain = next(
        (us, ref)
        for us, ref in ws.iter_history(ch, 1 << 62, -1)
        if ws.top_kind(ch, ref[1]) == "user" and ref[0] == "t"
    )
    r = await tiny.client.call("conversations.replies", channel=ch.id, ts=_ts(plain[0]))
    assert r.ok and [m["ts"] for m in r.body["messages"]] == [_ts(plain[0])]
    assert r.body["response_metadata"]["next_cursor"] == "" and r.body["has_more"] is False


@pytest.mark.parametrize(
    ("method", "default", "maximum"),
    [
        ("conversations.history", 100, 999),
        ("conversations.replies", 1000, 1000),
        ("conversations.list", 100, 999),
        ("conversations.members", 100, 1000),
        ("users.list", None, 1000),
    ],
)
async def test_limit_defaults_and_clamping(
    serve: Starter, method: str, default: int | None, maximum: int
) -> None:
    ws = Workspace.generate("medium", 0)
    env = await serve(ws=ws)
    big = max((ch for ch in ws.channels if ch.is_member), key=lambda ch: ch.n_top)
    general = ws.channels[0]
    if method == "conversations.replies":
        k = max(range(len(big.nrep)), key=lambda k: big.nrep[k])
        params: dict[str, Any] = {"channel": big.id, "ts": _ts(ws.top_us(big, big.parents[k]))}
        assert big.nrep[k] >= maximum  # the biggest thread has at least `maximum` replies
    elif method == "conversations.history":
        params = {"channel": big.id}
    elif method == "conversations.members":
        params = {"channel": general.id}
    else:
        params = (
            {"types": "public_channel,private_channel"} if method == "conversations.list" else {}
        )
    key = {
        "conversations.list": "channels",
        "users.list": "members",
        "conversations.members": "members",
    }.get(method, "messages")
    extra = 1 if method == "conversations.replies" else 0  # the parent comes on top

    async def count(**kw: Any) -> int:
        r = await env.client.call(method, **params, **kw)
        assert r.ok, r.body
        return len(r.body[key])

    n_default = await count()
    if default is not None:
        assert n_default == default + extra or n_default < default  # a short page is allowed
    else:
        assert n_default == len(ws.users)  # no limit: everyone (< 1000 users)
    assert await count(limit=5000) <= maximum + extra
    assert await count(limit=3) <= 3 + extra
    assert (await env.client.call(method, **params, limit="ten")).error == "invalid_limit"


async def test_unlisted_profile_caps_history_and_replies_at_15(serve: Starter) -> None:
    env = await serve("tiny", profile="unlisted", time_scale=600)
    cid, ts, _ = _thread(env.ws, 16)
    c = env.client
    r = await c.call("conversations.history", channel=cid)
    assert r.ok and len(r.body["messages"]) <= 15 and r.body["has_more"]
    r = await c.call("conversations.history", channel=cid, limit=200)
    assert len(r.body["messages"]) <= 15
    r = await c.call("conversations.replies", channel=cid, ts=ts, limit=999)
    assert r.ok and len(r.body["messages"]) <= 16 and r.body["has_more"]  # parent + 15


async def test_users_list_without_limit_on_a_huge_team(serve: Starter) -> None:
    env = await serve("large")
    assert (await env.client.call("users.list")).error == "limit_required"
    r = await env.client.call("users.list", limit=200)
    assert r.ok and 0 < len(r.body["members"]) <= 200


async def test_members_pagination_complete(tiny: Env) -> None:
    general = tiny.ws.channels[0]
    pages = await tiny.client.pages("conversations.members", channel=general.id, limit=2)
    assert [m for p in pages for m in p["members"]] == general.members
    hidden_public = next(ch for ch in tiny.ws.channels if not ch.is_private and not ch.is_member)
    r = await tiny.client.call("conversations.members", channel=hidden_public.id)
    assert r.ok  # public channels show their members to a non-member
