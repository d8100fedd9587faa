"""Mutations while serving: responses and the truth follow at once."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import pytest

from ingest.simulator import Workspace
from ingest.simulator.model import HORIZON_US, parse_ts, ts_str
from ingest.simulator.workspace import MUTATION_OPS

from .conftest import Client, Env, Starter
from .test_pagination import _load_everything


def _gen_thread(ws: Workspace, min_replies: int = 2) -> tuple[str, str]:
    ch = ws.channels[1]
    for p, n in zip(ch.parents, ch.nrep, strict=True):
        if n >= min_replies:
            return ch.id, ts_str(ws.top_us(ch, p))
    raise AssertionError("no thread")


async def _history(c: Client, cid: str) -> list[dict[str, Any]]:
    return [
        m
        for p in await c.pages("conversations.history", channel=cid, limit=200)
        for m in p["messages"]
    ]


async def _replies(c: Client, cid: str, ts: str) -> list[dict[str, Any]]:
    return [
        m for p in await c.pages("conversations.replies", channel=cid, ts=ts) for m in p["messages"]
    ]


async def test_post_message(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid = ws.channels[1].id
    before = await _history(c, cid)
    ts1 = ws.post_message(cid, text="hello")
    ts2 = ws.post_message(cid)
    assert parse_ts(ts2) > parse_ts(ts1) > parse_ts(before[0]["ts"])  # type: ignore[operator]
    after = await _history(c, cid)
    assert [m["ts"] for m in after[:2]] == [ts2, ts1] and after[1]["text"] == "hello"
    assert {(cid, ts1), (cid, ts2)} <= ws.truth().messages
    assert ws.message(cid, ts1)["text"] == "hello"  # type: ignore[index]


async def test_reply_to_old_thread_moves_the_parent(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid, parent_ts = _gen_thread(ws)
    old = ws.message(cid, parent_ts)
    assert old is not None
    latest_cursor_top = (await _history(c, cid))[0]["ts"]
    new_ts = ws.add_reply(cid, parent_ts, text="late reply")
    parent = ws.message(cid, parent_ts)
    assert parent is not None
    assert parent["reply_count"] == old["reply_count"] + 1
    assert parent["latest_reply"] == new_ts and parent["ts"] == parent_ts
    replies = await _replies(c, cid, parent_ts)
    assert replies[0]["ts"] == parent_ts and replies[0]["latest_reply"] == new_ts
    assert replies[-1]["ts"] == new_ts and replies[-1]["thread_ts"] == parent_ts
    assert replies[-1]["parent_user_id"] == parent["user"]
    # reading history since the newest message does not reveal the reply
    newer = await c.pages("conversations.history", channel=cid, oldest=latest_cursor_top)
    assert all(not p["messages"] for p in newer)
    assert (cid, new_ts) in ws.truth().messages
    # replying to a reply lands in the same thread
    again = ws.add_reply(cid, new_ts)
    assert ws.message(cid, again)["thread_ts"] == parent_ts  # type: ignore[index]


async def test_reply_to_a_plain_message_starts_a_thread(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid = ws.channels[1].id
    plain = ws.post_message(cid, text="no replies yet")
    rts = ws.add_reply(cid, plain, text="first!")
    top = (await _history(c, cid))[0]
    assert top["ts"] == plain and top["thread_ts"] == plain and top["reply_count"] == 1
    assert top["reply_users"] == [ws.message(cid, rts)["user"]]  # type: ignore[index]
    assert [m["ts"] for m in await _replies(c, cid, plain)] == [plain, rts]
    join_ts = ts_str(ws.top_us(ws.channels[1], 0))
    with pytest.raises(ValueError, match="channel_join"):
        ws.add_reply(cid, join_ts)


async def test_broadcast_reply(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid, parent_ts = _gen_thread(ws)
    bts = ws.add_reply(cid, parent_ts, text="to everyone", broadcast=True)
    top = (await _history(c, cid))[0]
    assert top["ts"] == bts and top["subtype"] == "thread_broadcast"
    assert top["root"]["ts"] == parent_ts and top["root"]["latest_reply"] == bts
    assert (await _replies(c, cid, parent_ts))[-1]["ts"] == bts
    t = ws.truth()
    assert (cid, bts) in t.messages


async def test_edit_message(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid, parent_ts = _gen_thread(ws)
    reply_ts = (await _replies(c, cid, parent_ts))[1]["ts"]
    for ts in (parent_ts, reply_ts):
        ws.edit_message(cid, ts, "fixed typo")
    replies = await _replies(c, cid, parent_ts)
    for m in replies[:2]:
        assert m["text"] == "fixed typo"
        assert m["edited"]["user"] == m["user"]
        assert parse_ts(m["edited"]["ts"]) > parse_ts(m["ts"])  # type: ignore[operator]
        if "blocks" in m:
            assert m["blocks"][0]["elements"][0]["elements"][0]["text"] == "fixed typo"
    with pytest.raises(ValueError, match="message_not_found"):
        ws.edit_message(cid, "1234567890.000001", "x")


async def test_delete_reply_and_parent(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid, parent_ts = _gen_thread(ws, min_replies=3)
    replies = await _replies(c, cid, parent_ts)
    victim = replies[1]["ts"]
    ws.delete_message(cid, victim)
    after = await _replies(c, cid, parent_ts)
    assert victim not in {m["ts"] for m in after}
    assert after[0]["reply_count"] == replies[0]["reply_count"] - 1
    assert (cid, victim) not in ws.truth().messages
    assert ws.message(cid, victim) is None
    # deleting the parent deletes the whole thread
    ws.delete_message(cid, parent_ts)
    assert (
        await c.call("conversations.replies", channel=cid, ts=parent_ts)
    ).error == "thread_not_found"
    t = ws.truth()
    assert not {(cid, m["ts"]) for m in after} & t.messages
    assert parent_ts not in {m["ts"] for m in await _history(c, cid)}
    assert set(await _keys(c)) == t.messages


async def test_parent_with_all_replies_deleted(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid = ws.channels[1].id
    p = ws.post_message(cid)
    r = ws.add_reply(cid, p)
    ws.delete_message(cid, r)
    top = (await _history(c, cid))[0]
    assert top["ts"] == p and top["reply_count"] == 0 and top["latest_reply"] == "0000000000.000000"


async def test_add_channel(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    pub = ws.add_channel("brand-new")
    hidden = ws.add_channel("brand-new-private", is_private=True, is_member=False)
    with pytest.raises(ValueError, match="name_taken"):
        ws.add_channel("brand-new")
    listed = {
        ch["id"]
        for p in await c.pages("conversations.list", types="public_channel,private_channel")
        for ch in p["channels"]
    }
    assert pub in listed and hidden not in listed
    t = ws.truth()
    assert pub in t.readable_channel_ids and hidden not in t.channel_ids
    r = await c.call("conversations.history", channel=pub)
    assert r.ok and r.body["messages"] == [] and r.body["response_metadata"]["next_cursor"] == ""
    ts = ws.post_message(pub, text="first message")
    assert (pub, ts) in ws.truth().messages


async def _keys(c: Client) -> list[tuple[str, str]]:
    _, keys = await _load_everything(c, 200, 1000)
    return keys


async def test_mutate_mix_and_truth_follows(serve: Starter) -> None:
    env = await serve("small")
    ws = env.ws
    counts = ws.mutate(1, n=60)
    assert sum(counts.values()) == 60
    assert (
        counts["post_message"]
        and counts["add_reply"]
        and counts["edit_message"]
        and counts["delete_message"]
    )
    keys = await _keys(env.client)
    assert len(keys) == len(set(keys))
    assert set(keys) == ws.truth().messages
    other = Workspace.generate("small", 0)
    assert other.mutate(1, n=60) == counts  # same choices for the same seed


async def test_mutate_replies_inside_the_window(serve: Starter) -> None:
    env = await serve("small")
    ws = env.ws
    window_us = 30 * 86400 * 1_000_000
    newest_before = {ch.id: ws._newest_us(ch) for ch in ws.conversations()}
    old_extra = {ch.id: set(ch.extra) for ch in ws.conversations()}
    counts = ws.mutate(5, n=60, old_thread_window_s=30 * 86400)
    parents = [
        (ch.id, rec.parent_us)
        for ch in ws.conversations()
        for us, rec in ch.extra.items()
        if us not in old_extra.get(ch.id, ()) and rec.parent_us is not None
    ]
    assert len(parents) == counts["add_reply"] > 0
    assert all(p >= newest_before.get(cid, 0) - window_us for cid, p in parents)
    assert any(p < HORIZON_US for _, p in parents)  # some replies went to generated (old) threads


async def test_admin_mutate_endpoint(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    url = tiny.sim.url + "/_sim/mutate"
    cid = ws.channels[1].id

    async def post(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with c.session.post(url, json=body) as r:
            return r.status, await r.json()

    st, body = await post({"op": "post_message", "channel_id": cid, "text": "via http"})
    assert st == 200 and ws.message(cid, body["result"])["text"] == "via http"  # type: ignore[index]
    ts = body["result"]
    st, body = await post(
        {"op": "add_reply", "channel_id": cid, "thread_ts": ts, "broadcast": True}
    )
    assert st == 200 and (cid, body["result"]) in ws.truth().messages
    assert (await post({"op": "edit_message", "channel_id": cid, "ts": ts, "text": "edited"}))[
        0
    ] == 200
    assert (await post({"op": "delete_message", "channel_id": cid, "ts": body["result"]}))[0] == 200
    st, body = await post({"op": "add_channel", "name": "from-http", "is_private": True})
    assert st == 200 and body["result"] in ws.truth().readable_channel_ids
    st, body = await post({"op": "mutate", "rng_seed": 3, "n": 5})
    assert st == 200 and sum(body["result"].values()) == 5
    assert (await post({"op": "drop_table"}))[0] == 400
    assert (await post({"op": "post_message", "nope": 1}))[0] == 400
    assert (await post({"op": "delete_message", "channel_id": cid, "ts": "1.0"}))[0] == 400


def k_done(ws: Workspace) -> int:
    return sum(len(ch.extra) for ch in ws.conversations())


async def test_mutating_from_another_thread_while_serving(serve: Starter) -> None:
    env = await serve("small")
    ws = env.ws
    stop = threading.Event()

    def churn() -> None:
        k = 0
        while not stop.is_set():
            ws.mutate(100 + k, n=5)
            k += 1
            stop.wait(0.002)  # an unthrottled writer would starve the server of the lock

    t = threading.Thread(target=churn)
    t.start()
    try:
        await _keys(env.client)  # every response must stay well formed (pages asserts ok)
        await asyncio.sleep(0)
    finally:
        stop.set()
        t.join()
    assert k_done(ws) > 0
    keys = await _keys(env.client)
    assert set(keys) == ws.truth().messages


# ---------------------------------------------------------------- channel, member, user ops


def _ch(ws: Workspace, *, private: bool = False) -> str:
    return next(
        c.id
        for c in ws.channels
        if c.is_private == private and c.is_member and not c.is_archived and not c.is_general
    )


async def _info(c: Client, cid: str) -> dict[str, Any]:
    r = await c.call("conversations.info", channel=cid)
    assert r.ok, r.body
    channel: dict[str, Any] = r.body["channel"]
    return channel


async def test_rename_archive_unarchive(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    for cid in (_ch(ws), _ch(ws, private=True)):
        old = ws.channels_by_id[cid].name
        ws.rename_channel(cid, old + "-renamed")
        info = await _info(c, cid)
        assert info["name"] == old + "-renamed" and info["previous_names"] == [old]
        listed = {
            ch["id"]: ch["name"]
            for p in await c.pages("conversations.list", types="public_channel,private_channel")
            for ch in p["channels"]
        }
        assert listed[cid] == old + "-renamed"
        top = (await _history(c, cid))[0]
        assert top["subtype"] == "channel_name" and top["old_name"] == old
        assert top["name"] == old + "-renamed" and old in top["text"]
        assert ws.truth().channel_names[cid] == old + "-renamed"
        ws.archive_channel(cid)
        assert (await _info(c, cid))["is_archived"] is True
        assert (await _history(c, cid))[0]["subtype"] == "channel_archive"
        assert cid in ws.truth().archived
        with pytest.raises(ValueError, match="already_archived"):
            ws.archive_channel(cid)
        ws.unarchive_channel(cid)
        assert (await _info(c, cid))["is_archived"] is False
        hist = await _history(c, cid)
        assert [m["subtype"] for m in hist[:3]] == [
            "channel_unarchive",
            "channel_archive",
            "channel_name",
        ]
        assert cid not in ws.truth().archived
        with pytest.raises(ValueError, match="not_archived"):
            ws.unarchive_channel(cid)
        # system messages are live keys, but no thread can start on them
        assert all((cid, m["ts"]) in ws.truth().messages for m in hist[:3])
        with pytest.raises(ValueError, match="channel_name"):
            ws.add_reply(cid, hist[2]["ts"])
        r = await c.call("conversations.replies", channel=cid, ts=hist[2]["ts"])
        assert r.error == "thread_not_found"
    general = next(ch.id for ch in ws.channels if ch.is_general)
    with pytest.raises(ValueError, match="cant_archive_general"):
        ws.archive_channel(general)
    with pytest.raises(ValueError, match="name_taken"):
        ws.rename_channel(_ch(ws), ws.channels_by_id[general].name)
    assert set(await _keys(c)) == ws.truth().messages


async def test_add_member_and_leave(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid = _ch(ws)
    uid = ws.add_user("sam.newcomer")
    ws.add_member(cid, uid)
    members = [m for p in await c.pages("conversations.members", channel=cid) for m in p["members"]]
    assert uid in members and (cid, uid) in ws.truth().members
    top = (await _history(c, cid))[0]
    assert top["subtype"] == "channel_join" and top["user"] == uid
    with pytest.raises(ValueError, match="already_in_channel"):
        ws.add_member(cid, uid)
    with pytest.raises(ValueError, match="user_not_found"):
        ws.add_member(cid, "UNOBODY")
    ws.leave(cid, uid)
    members = [m for p in await c.pages("conversations.members", channel=cid) for m in p["members"]]
    assert uid not in members and (cid, uid) not in ws.truth().members
    top = (await _history(c, cid))[0]
    assert top["subtype"] == "channel_leave" and top["user"] == uid
    assert (await _info(c, cid))["num_members"] == len(members)


async def test_change_user_and_add_user(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    human = next(u for u in ws.users if not u.is_bot and not u.deleted)
    ws.change_user(human.id, real_name="Renamed Person", display_name="rp", title="Chief")
    r = await c.call("users.info", user=human.id)
    u = r.body["user"]
    assert u["real_name"] == "Renamed Person" and u["profile"]["real_name"] == "Renamed Person"
    assert u["profile"]["display_name"] == "rp" and u["profile"]["title"] == "Chief"
    with pytest.raises(ValueError, match="unknown user field"):
        ws.change_user(human.id, shoe_size="44")
    new = ws.add_user("ada.lovelace")
    with pytest.raises(ValueError, match="name_taken"):
        ws.add_user("ada.lovelace")
    listed = {m["id"]: m for p in await c.pages("users.list", limit=3) for m in p["members"]}
    assert listed[new]["name"] == "ada.lovelace" and listed[new]["real_name"] == "Ada Lovelace"
    assert listed[human.id]["real_name"] == "Renamed Person"
    assert len(listed) == len(ws.users)
    t = ws.truth()
    assert new in t.user_ids and t.user_names[new] == "Ada Lovelace"
    assert t.user_names[human.id] == "Renamed Person"


async def test_backdated_message_keeps_history_ordered(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid = ws.channels[1].id
    ch = ws.channels[1]
    newest = ws.post_message(cid, text="now")
    old = ws.post_message(cid, text="a month ago", age_s=30 * 86400)
    older = ws.post_message(cid, text="two months ago", age_s=60 * 86400)
    assert abs(parse_ts(old) / 1e6 - (time.time() - 30 * 86400)) < 5  # type: ignore[operator]
    assert parse_ts(older) < parse_ts(old) < parse_ts(newest)  # type: ignore[operator]
    assert parse_ts(older) > HORIZON_US  # type: ignore[operator]
    assert ch.extra_hist == sorted(ch.extra_hist)
    hist = await _history(c, cid)
    tss = [m["ts"] for m in hist]
    assert tss == sorted(tss, reverse=True) and len(set(tss)) == len(tss)
    assert tss[:3] == [newest, old, older]
    # bounded reads find it where it belongs
    r = await c.call("conversations.history", channel=cid, oldest=older, latest=newest)
    assert [m["ts"] for m in r.body["messages"]] == [old]
    # a 30-day-old thread: replies, edits and deletes of its replies
    r1 = ws.add_reply(cid, old, text="reply to an old thread")
    r2 = ws.add_reply(cid, old)
    ws.edit_message(cid, r1, "edited old reply")
    ws.delete_message(cid, r2)
    replies = await _replies(c, cid, old)
    assert [m["ts"] for m in replies] == [old, r1]
    assert replies[1]["text"] == "edited old reply" and replies[0]["reply_count"] == 1
    t = ws.truth()
    assert t.edited[(cid, r1)] == "edited old reply" and (cid, r2) in t.deleted
    assert (cid, r2) not in t.messages
    assert set(await _keys(c)) == t.messages
    with pytest.raises(ValueError, match="generated history"):
        ws.post_message(cid, age_s=20 * 365 * 86400)
    with pytest.raises(ValueError):
        ws.post_message(cid, age_s=-1)


async def test_edit_and_delete_replies_of_generated_threads(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    cid, parent_ts = _gen_thread(ws, min_replies=3)
    replies = await _replies(c, cid, parent_ts)
    assert parse_ts(parent_ts) < HORIZON_US  # type: ignore[operator]
    a, b = replies[1]["ts"], replies[2]["ts"]
    ws.edit_message(cid, a, "edited years later")
    ws.edit_message(cid, parent_ts, "parent edited")
    ws.delete_message(cid, b)
    late = ws.add_reply(cid, parent_ts, text="late")
    after = await _replies(c, cid, parent_ts)
    assert after[0]["text"] == "parent edited" and after[1]["text"] == "edited years later"
    assert b not in {m["ts"] for m in after} and after[-1]["ts"] == late
    t = ws.truth()
    assert t.edited == {(cid, a): "edited years later", (cid, parent_ts): "parent edited"}
    assert t.deleted == {(cid, b)}
    # deleting the parent: every reply counts as deleted, edits of gone messages vanish
    ws.delete_message(cid, parent_ts)
    t = ws.truth()
    assert {(cid, m["ts"]) for m in after} <= t.deleted
    assert (cid, b) in t.deleted and (cid, late) in t.deleted
    assert not t.edited and not t.deleted & t.messages


async def test_mutate_any_age_covers_every_op(serve: Starter) -> None:
    env = await serve("small")
    ws, c = env.ws, env.client
    counts = ws.mutate(7, n=400, any_age=True)
    assert set(counts) == set(MUTATION_OPS) and sum(counts.values()) == 400
    assert all(counts[op] > 0 for op in MUTATION_OPS), counts
    assert Workspace.generate("small", 0).mutate(7, n=400, any_age=True) == counts
    t = ws.truth()
    # old messages were touched: replies to generated threads, edits/deletes of old replies
    old_parents = [
        rec.parent_us
        for ch in ws.channels
        for rec in ch.extra.values()
        if rec.parent_us is not None and rec.parent_us < HORIZON_US
    ]
    assert old_parents
    edited_old = [k for k in t.edited if parse_ts(k[1]) < HORIZON_US]  # type: ignore[operator]
    assert any(parse_ts(ts) % 1_000_000 >= 500_000 for _, ts in edited_old)  # old replies
    assert any(parse_ts(ts) < HORIZON_US for _, ts in t.deleted)  # type: ignore[operator]
    assert not t.deleted & t.messages
    # the API agrees with the truth
    keys = await _keys(c)
    assert len(keys) == len(set(keys)) and set(keys) == t.messages
    listed = {
        ch["id"]: ch
        for p in await c.pages("conversations.list", types="public_channel,private_channel,mpim")
        for ch in p["channels"]
    }
    assert {k: v["name"] for k, v in listed.items()} == t.channel_names
    assert {k for k, v in listed.items() if v["is_archived"]} == t.archived
    users = {m["id"]: m["real_name"] for p in await c.pages("users.list") for m in p["members"]}
    assert users == t.user_names
    for (cid, ts), text in list(t.edited.items())[:20]:
        assert ws.message(cid, ts)["text"] == text  # type: ignore[index]


async def test_admin_mutate_endpoint_new_ops(tiny: Env) -> None:
    ws, c = tiny.ws, tiny.client
    url = tiny.sim.url + "/_sim/mutate"
    cid = _ch(ws)
    for body in (
        {"op": "rename_channel", "channel_id": cid, "name": "via-http"},
        {"op": "archive_channel", "channel_id": cid},
        {"op": "unarchive_channel", "channel_id": cid},
        {"op": "add_user", "name": "http.user"},
        {"op": "change_user", "user_id": ws.users[1].id, "title": "Boss"},
        {"op": "mutate", "rng_seed": 1, "n": 10, "any_age": True},
    ):
        async with c.session.post(url, json=body) as r:
            assert r.status == 200, await r.text()
    assert ws.truth().channel_names[cid].startswith("via-http")
    assert ws.users[1].title == "Boss"
    async with c.session.get(tiny.sim.url + "/_sim/truth") as r:
        body = await r.json()
    t = ws.truth()
    assert body["channel_names"] == t.channel_names and body["user_names"] == t.user_names
    assert body["archived"] == sorted(t.archived)
    assert {(cid, ts): text for cid, ts, text in body["edited"]} == t.edited
    assert {tuple(k) for k in body["deleted"]} == t.deleted
