"""Slack's per-resource error codes and conversations.join."""

from __future__ import annotations

from ingest.simulator.model import ts_str

from .conftest import Env


def _kinds(env: Env) -> dict[str, str]:
    chans = env.ws.channels
    return {
        "public_member": chans[1].id,
        "public_other": next(
            c.id for c in chans if not c.is_private and not c.is_member and not c.is_archived
        ),
        "private_member": next(c.id for c in chans if c.is_private and c.is_member),
        "private_other": next(c.id for c in chans if c.is_private and not c.is_member),
        "archived_member": next(c.id for c in chans if c.is_archived and c.is_member),
    }


async def test_not_in_channel_and_channel_not_found(tiny: Env) -> None:
    c = tiny.client
    k = _kinds(tiny)
    for method in ("conversations.history", "conversations.replies"):
        r = await c.call(method, channel=k["public_other"], ts="1700000000.000100")
        assert (r.status, r.body) == (200, {"ok": False, "error": "not_in_channel"})
        for cid in (k["private_other"], "CNOTACHANNEL"):
            r = await c.call(method, channel=cid, ts="1700000000.000100")
            assert (r.status, r.body) == (200, {"ok": False, "error": "channel_not_found"}), (
                method,
                cid,
            )
    for method in ("conversations.info", "conversations.members"):
        assert (await c.call(method, channel=k["private_other"])).error == "channel_not_found"
        assert (await c.call(method, channel=k["public_other"])).ok
    # archived channels the bot is in stay readable
    assert (await c.call("conversations.history", channel=k["archived_member"])).ok
    assert (await c.call("conversations.history", channel=k["private_member"])).ok


async def test_thread_not_found(tiny: Env) -> None:
    ws = tiny.ws
    ch = ws.channels[1]
    join_ts = ts_str(ws.top_us(ch, 0))  # message 0 of every channel is its creator joining
    assert ws.message(ch.id, join_ts)["subtype"] == "channel_join"  # type: ignore[index]
    for ts in (join_ts, "1600000000.000001", "not-a-ts"):
        r = await tiny.client.call("conversations.replies", channel=ch.id, ts=ts)
        assert (r.status, r.body) == (200, {"ok": False, "error": "thread_not_found"}), ts


async def test_invalid_arguments(tiny: Env) -> None:
    c = tiny.client
    cid = tiny.ws.channels[1].id
    for method, params in (
        ("conversations.history", {}),
        ("conversations.replies", {"channel": cid}),
        ("conversations.info", {}),
        ("conversations.members", {}),
        ("conversations.join", {}),
        ("users.info", {}),
    ):
        r = await c.call(method, **params)
        assert (r.status, r.error) == (200, "invalid_arguments"), method
    assert (await c.call("users.info", user="UNOBODY")).error == "user_not_found"
    assert (await c.call("users.info", user=tiny.ws.users[0].id)).ok


async def test_join_public_channel_makes_it_readable(tiny: Env) -> None:
    c = tiny.client
    ws = tiny.ws
    cid = _kinds(tiny)["public_other"]
    before = ws.truth()
    assert cid not in before.readable_channel_ids
    r = await c.call("conversations.join", channel=cid)
    assert r.ok and r.body["channel"]["id"] == cid and r.body["channel"]["is_member"] is True
    assert "warning" not in r.body
    after = ws.truth()
    assert cid in after.readable_channel_ids
    assert (cid, ws.app_user.id) in after.members
    history = await c.pages("conversations.history", channel=cid, limit=200)
    got = {(cid, m["ts"]) for p in history for m in p["messages"]}
    assert got <= after.messages and got - before.messages
    newest = history[0]["messages"][0]
    assert newest["subtype"] == "channel_join" and newest["user"] == ws.app_user.id
    again = await c.call("conversations.join", channel=cid)
    assert again.ok and again.body["warning"] == "already_in_channel"


async def test_join_errors(tiny: Env) -> None:
    c = tiny.client
    ws = tiny.ws
    archived = next(ch for ch in ws.channels if ch.is_archived)
    assert (await c.call("conversations.join", channel=archived.id)).error == "is_archived"
    private = next(ch for ch in ws.channels if ch.is_private and ch.is_member)
    r = await c.call("conversations.join", channel=private.id)
    assert r.error == "method_not_supported_for_channel_type"
    hidden = next(ch for ch in ws.channels if ch.is_private and not ch.is_member)
    assert (await c.call("conversations.join", channel=hidden.id)).error == "channel_not_found"
    assert ws.truth().readable_channel_ids == frozenset(
        ch.id for ch in ws.conversations() if ch.is_member
    )
