"""Socket Mode over loopback: tickets, envelopes, acks, redelivery, loss, refresh, events."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import aiohttp
import orjson
import pytest

from ingest.simulator import DEFAULT_APP_TOKEN, SimulatorThread, Workspace
from ingest.simulator.model import Channel, ts_str

from .conftest import Env, Starter

JSON_CT = "application/json; charset=utf-8"
WS = aiohttp.ClientWebSocketResponse


async def _open_url(env: Env) -> str:
    r = await env.client.call("apps.connections.open", token=DEFAULT_APP_TOKEN)
    assert r.ok, r.body
    assert r.body["url"].startswith(f"ws://127.0.0.1:{env.sim.port}/_sim/socket?ticket=")
    return str(r.body["url"])


async def _recv(ws: WS, timeout: float = 3.0) -> dict[str, Any]:
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    data: dict[str, Any] = orjson.loads(msg.data)
    return data


async def _silent(ws: WS, seconds: float) -> None:
    """Nothing arrives for `seconds`."""
    with pytest.raises(asyncio.TimeoutError):
        msg = await asyncio.wait_for(ws.receive(), seconds)
        raise AssertionError(f"unexpected frame {msg}")


async def _connect(env: Env) -> tuple[WS, dict[str, Any]]:
    ws = await env.client.session.ws_connect(await _open_url(env))
    hello = await _recv(ws)
    assert hello["type"] == "hello"
    return ws, hello


async def _ack(ws: WS, frame: dict[str, Any]) -> None:
    await ws.send_str(orjson.dumps({"envelope_id": frame["envelope_id"]}).decode())


async def _events(ws: WS, n: int) -> list[dict[str, Any]]:
    """The next n events (acked), then no more for a moment."""
    out = []
    for _ in range(n):
        frame = await _recv(ws)
        assert frame["type"] == "events_api", frame
        await _ack(ws, frame)
        out.append(frame["payload"]["event"])
    await _silent(ws, 0.08)
    return out


def _chans(ws: Workspace) -> dict[str, Channel]:
    """Public member (not #general), public non-member, private member, private non-member."""
    pick = {
        "pub": next(
            c
            for c in ws.channels
            if c.is_public and c.is_member and not c.is_archived and not c.is_general
        ),
        "pub_out": next(c for c in ws.channels if c.is_public and not c.is_member),
        "priv": next(c for c in ws.channels if c.is_private and c.is_member),
        "priv_out": next(c for c in ws.channels if c.is_private and not c.is_member),
    }
    return pick


def _gen_thread(ws: Workspace, ch: Channel) -> tuple[str, list[str]]:
    """A generated (old) thread of ch with >= 3 replies: (parent ts, reply ts list)."""
    for p, n in zip(ch.parents, ch.nrep, strict=True):
        if n >= 3:
            th = ws.thread(ch, p, n)
            return ts_str(ws.top_us(ch, p)), [ts_str(us) for us in ws.all_reply_us(ch, p, n, th)]
    raise AssertionError("no thread")


async def test_hello_envelope_ack_and_stats(serve: Starter) -> None:
    env = await serve(ack_timeout_s=0.3)
    ws, hello = await _connect(env)
    assert hello["num_connections"] == 1
    assert hello["connection_info"] == {"app_id": env.ws.app_user.app_id}
    assert "host" in hello["debug_info"] and "approximate_connection_time" in hello["debug_info"]
    cid = _chans(env.ws)["pub"].id
    ts = env.ws.post_message(cid, text="over the socket")
    frame = await _recv(ws)
    assert set(frame) == {
        "type",
        "envelope_id",
        "accepts_response_payload",
        "retry_attempt",
        "retry_reason",
        "payload",
    }
    assert frame["type"] == "events_api" and frame["accepts_response_payload"] is False
    assert frame["retry_attempt"] == 0 and frame["retry_reason"] == ""
    p = frame["payload"]
    assert p["type"] == "event_callback" and p["team_id"] == env.ws.team_id
    assert p["api_app_id"] == env.ws.app_user.app_id and p["event_id"].startswith("Ev")
    assert isinstance(p["event_time"], int) and abs(p["event_time"] - time.time()) < 5
    assert p["authorizations"][0]["user_id"] == env.ws.bot_user_id
    ev = p["event"]
    assert ev == {
        **env.ws.message(cid, ts),
        "channel": cid,
        "channel_type": "channel",
        "event_ts": ts,
    }  # type: ignore[dict-item]
    assert ev["type"] == "message" and "subtype" not in ev and ev["text"] == "over the socket"
    await _ack(ws, frame)
    await _silent(ws, 0.6)  # acked: never redelivered
    s = env.sim.stats()["socket"]
    assert s == {
        "connections_opened": 1,
        "open": 1,
        "envelopes_sent": 1,
        "acked": 1,
        "redelivered": 0,
        "dropped_after_retries": 0,
        "lost_no_connection": 0,
        "events_published": 1,
    }
    async with env.client.session.get(env.sim.url + "/_sim/stats") as r:
        assert (await r.json())["socket"]["acked"] == 1
    await ws.close()


async def test_unacked_envelope_is_redelivered_then_dropped(serve: Starter) -> None:
    env = await serve(ack_timeout_s=0.3, max_retries=3)
    ws, _ = await _connect(env)
    env.ws.post_message(_chans(env.ws)["pub"].id)
    frames = [await _recv(ws, 2) for _ in range(4)]
    assert [f["retry_attempt"] for f in frames] == [0, 1, 2, 3]
    assert [f["retry_reason"] for f in frames] == ["", "timeout", "timeout", "timeout"]
    assert len({f["payload"]["event_id"] for f in frames}) == 1
    assert len({f["envelope_id"] for f in frames}) == 4
    await _silent(ws, 0.6)
    s = env.sim.stats()["socket"]
    assert (s["envelopes_sent"], s["redelivered"], s["dropped_after_retries"], s["acked"]) == (
        4,
        3,
        1,
        0,
    )
    # acking a retry stops the retries
    env.ws.post_message(_chans(env.ws)["pub"].id)
    first = await _recv(ws)
    retry = await _recv(ws)
    assert retry["retry_attempt"] == 1
    assert retry["payload"]["event_id"] == first["payload"]["event_id"]
    await _ack(ws, retry)
    await _silent(ws, 0.6)
    assert env.sim.stats()["socket"]["acked"] == 1
    await ws.close()


async def test_dropped_connection_redelivers_on_the_next(serve: Starter) -> None:
    env = await serve(ack_timeout_s=0.3)
    ws, _ = await _connect(env)
    cid = _chans(env.ws)["pub"].id
    env.ws.post_message(cid, text="one")
    env.ws.post_message(cid, text="two")
    got = [await _recv(ws), await _recv(ws)]
    async with env.client.session.post(env.sim.url + "/_sim/socket/drop") as r:
        assert r.headers["Content-Type"] == JSON_CT and (await r.json())["dropped"] == 1
    msg = await asyncio.wait_for(ws.receive(), 2)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR)
    assert env.sim.stats()["socket"]["open"] == 0
    await asyncio.sleep(0.5)  # the ack timeout passes while no connection is open
    ws2, _ = await _connect(env)
    again = [await _recv(ws2), await _recv(ws2)]
    assert [f["payload"]["event_id"] for f in again] == [f["payload"]["event_id"] for f in got]
    assert [f["payload"]["event"]["text"] for f in again] == ["one", "two"]
    assert all(f["retry_attempt"] == 1 and f["retry_reason"] == "timeout" for f in again)
    for f in again:
        await _ack(ws2, f)
    await _silent(ws2, 0.5)
    s = env.sim.stats()["socket"]
    assert s["acked"] == 2 and s["redelivered"] == 2 and s["connections_opened"] == 2
    await ws2.close()


async def test_events_without_a_connection_are_lost(serve: Starter) -> None:
    env = await serve(ack_timeout_s=0.3)
    cid = _chans(env.ws)["pub"].id
    env.ws.post_message(cid)
    env.ws.rename_channel(cid, "renamed-while-offline")
    await asyncio.sleep(0.05)
    s = env.sim.stats()["socket"]
    assert s["events_published"] == 3 and s["lost_no_connection"] == 3  # 2 msgs + rename
    ws, _ = await _connect(env)
    await _silent(ws, 0.5)  # not replayed
    ts = env.ws.post_message(cid)
    assert (await _events(ws, 1))[0]["ts"] == ts
    await ws.close()


async def test_refresh_warning_then_refresh_requested_then_closed(serve: Starter) -> None:
    env = await serve(socket_refresh_s=1.2)
    t0 = time.monotonic()
    ws, _ = await _connect(env)
    warn = await _recv(ws)
    t_warn = time.monotonic() - t0
    assert warn["type"] == "disconnect" and warn["reason"] == "warning"
    refresh = await _recv(ws)
    t_refresh = time.monotonic() - t0
    assert refresh["type"] == "disconnect" and refresh["reason"] == "refresh_requested"
    assert "debug_info" in refresh
    assert 0.4 < t_warn < t_refresh and 1.1 < t_refresh < 2.0
    msg = await asyncio.wait_for(ws.receive(), 3)  # the server closes it: we did not
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    assert time.monotonic() - t0 < 4
    await asyncio.sleep(0.05)
    assert env.sim.stats()["socket"]["open"] == 0


async def test_disable_sends_link_disabled_and_refuses_tickets(serve: Starter) -> None:
    env = await serve()
    ws, _ = await _connect(env)
    async with env.client.session.post(env.sim.url + "/_sim/socket/disable") as r:
        assert (await r.json()) == {"ok": True, "disconnected": 1}
    frame = await _recv(ws)
    assert frame["type"] == "disconnect" and frame["reason"] == "link_disabled"
    msg = await asyncio.wait_for(ws.receive(), 3)
    assert msg.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSED)
    r2 = await env.client.call("apps.connections.open", token=DEFAULT_APP_TOKEN)
    assert r2.status == 200 and r2.error == "socket_mode_disabled"
    env.sim.socket.enable()
    ws3, _ = await _connect(env)
    await ws3.close()


async def test_ticket_is_single_use(serve: Starter) -> None:
    env = await serve()
    url = await _open_url(env)
    ws = await env.client.session.ws_connect(url)
    assert (await _recv(ws))["type"] == "hello"
    for bad in (url, url.split("?")[0] + "?ticket=nope", url.split("?")[0]):
        with pytest.raises(aiohttp.WSServerHandshakeError) as e:
            await env.client.session.ws_connect(bad)
        assert e.value.status == 401
    await ws.close()


async def test_token_types(serve: Starter) -> None:
    env = await serve()
    c = env.client
    assert (await c.call("apps.connections.open")).error == "not_allowed_token_type"  # bot
    assert (await c.call("apps.connections.open", token=None)).error == "not_authed"
    assert (await c.call("apps.connections.open", token="xapp-nope")).error == "invalid_auth"
    for method in ("auth.test", "conversations.list"):
        r = await c.call(method, token=DEFAULT_APP_TOKEN)
        assert r.status == 200 and r.error == "not_allowed_token_type"
    assert (await c.call("auth.test")).ok
    other = await serve(app_token="xapp-custom")
    r = await other.client.call("apps.connections.open", token="xapp-custom")
    assert r.ok and "/_sim/socket?ticket=" in r.body["url"]
    assert (
        await other.client.call("apps.connections.open", token=DEFAULT_APP_TOKEN)
    ).error == "invalid_auth"


async def test_json_content_type_has_charset(serve: Starter) -> None:
    env = await serve(faults="badjson=1.0")
    s = env.client.session
    urls = [
        ("get", env.sim.url + "/_sim/health"),
        ("get", env.sim.url + "/_sim/stats"),
        ("post", env.sim.url + "/_sim/mutate"),  # 400 (no body)
        ("get", env.sim.url + "/_sim/truth"),
        ("post", env.sim.base_url + "auth.test"),  # badjson fault: still JSON content type
    ]
    for how, url in urls:
        async with s.request(how, url) as r:
            assert r.headers["Content-Type"] == JSON_CT, url
    env.sim.set_faults(None)
    for method, token in (
        ("auth.test", env.ws.token),
        ("conversations.list", "bad"),
        ("no.such.method", env.ws.token),
        ("apps.connections.open", DEFAULT_APP_TOKEN),
    ):
        r = await env.client.call(method, token=token)
        assert r.headers["Content-Type"] == JSON_CT, method
    env.sim.set_faults("storm=1.0")
    r = await env.client.call("auth.test")
    assert r.status == 429 and r.headers["Content-Type"] == JSON_CT


async def test_one_event_shape_per_mutation_kind(serve: Starter) -> None:
    env = await serve()
    w = env.ws
    ch = _chans(w)
    pub, priv = ch["pub"], ch["priv"]
    ws, _ = await _connect(env)

    # a reply to an old (generated) thread: the reply, then the parent's hidden change
    parent_ts, replies = _gen_thread(w, pub)
    before = w.message(pub.id, parent_ts)
    assert before is not None
    rts = w.add_reply(pub.id, parent_ts, text="late")
    reply, changed = await _events(ws, 2)
    assert reply["ts"] == rts and reply["thread_ts"] == parent_ts and reply["text"] == "late"
    assert reply["parent_user_id"] == before["user"] and reply["event_ts"] == rts
    assert reply["channel"] == pub.id and reply["channel_type"] == "channel"
    assert changed["subtype"] == "message_changed" and changed["hidden"] is True
    assert changed["previous_message"] == before
    assert changed["message"] == w.message(pub.id, parent_ts)
    assert changed["message"]["reply_count"] == before["reply_count"] + 1
    assert changed["ts"] == changed["event_ts"] and changed["ts"] > rts
    assert changed["channel"] == pub.id and changed["channel_type"] == "channel"

    # a broadcast in a private channel
    p2 = w.post_message(priv.id)
    (ev,) = await _events(ws, 1)
    assert ev["ts"] == p2 and ev["channel_type"] == "group"
    bts = w.add_reply(priv.id, p2, broadcast=True)
    bc, changed = await _events(ws, 2)
    assert bc["ts"] == bts and bc["subtype"] == "thread_broadcast" and bc["root"]["ts"] == p2
    assert bc["thread_ts"] == p2 and bc["channel_type"] == "group"
    assert changed["subtype"] == "message_changed" and changed["message"]["reply_count"] == 1

    # edit an old reply
    old = w.message(pub.id, replies[0])
    w.edit_message(pub.id, replies[0], "fixed")
    (ev,) = await _events(ws, 1)
    assert ev["subtype"] == "message_changed" and ev["hidden"] is True
    assert ev["message"]["text"] == "fixed" and ev["message"]["thread_ts"] == parent_ts
    assert ev["message"]["edited"]["ts"] > replies[0] and ev["previous_message"] == old

    # delete an old reply: message_deleted (+ the parent's change)
    old = w.message(pub.id, replies[1])
    w.delete_message(pub.id, replies[1])
    deleted, changed = await _events(ws, 2)
    assert deleted["subtype"] == "message_deleted" and deleted["hidden"] is True
    assert deleted["deleted_ts"] == replies[1] and deleted["previous_message"] == old
    assert deleted["previous_message"]["thread_ts"] == parent_ts
    assert deleted["ts"] == deleted["event_ts"] and deleted["ts"] > rts
    assert deleted["channel"] == pub.id and deleted["channel_type"] == "channel"
    assert changed["subtype"] == "message_changed"
    assert changed["message"]["reply_count"] == changed["previous_message"]["reply_count"] - 1

    # delete the parent: one event
    w.delete_message(pub.id, parent_ts)
    (ev,) = await _events(ws, 1)
    assert ev["subtype"] == "message_deleted" and ev["deleted_ts"] == parent_ts

    # rename / archive / unarchive, public and private
    old_name = pub.name
    w.rename_channel(pub.id, "shiny")
    msg, ren = await _events(ws, 2)
    assert msg["subtype"] == "channel_name" and msg["old_name"] == old_name
    assert msg["name"] == "shiny" and msg["channel"] == pub.id
    assert ren == {
        "type": "channel_rename",
        "channel": {"id": pub.id, "name": "shiny", "created": pub.created},
        "event_ts": ren["event_ts"],
    }
    w.rename_channel(priv.id, "shiny-private")
    msg, ren = await _events(ws, 2)
    assert msg["subtype"] == "channel_name" and msg["channel_type"] == "group"
    assert ren["type"] == "group_rename" and ren["channel"]["name"] == "shiny-private"
    for pre, c in (("channel", pub), ("group", priv)):
        w.archive_channel(c.id, user=c.creator)
        msg, arch = await _events(ws, 2)
        assert msg["subtype"] == "channel_archive" and msg["user"] == c.creator
        assert arch["type"] == f"{pre}_archive" and arch["channel"] == c.id
        assert arch["user"] == c.creator
        w.unarchive_channel(c.id)
        msg, arch = await _events(ws, 2)
        assert msg["subtype"] == "channel_unarchive"
        assert arch["type"] == f"{pre}_unarchive" and arch["channel"] == c.id

    # members join and leave
    uid = w.add_user("late.joiner")
    (tj,) = await _events(ws, 1)
    assert tj["type"] == "team_join" and tj["user"]["id"] == uid
    assert tj["user"]["name"] == "late.joiner" and tj["user"]["real_name"] == "Late Joiner"
    for c, ctype in ((pub, "C"), (priv, "G")):
        w.add_member(c.id, uid)
        msg, mj = await _events(ws, 2)
        assert msg["subtype"] == "channel_join" and msg["user"] == uid
        assert mj == {
            "type": "member_joined_channel",
            "user": uid,
            "channel": c.id,
            "channel_type": ctype,
            "team": w.team_id,
            "event_ts": mj["event_ts"],
        }
        w.leave(c.id, uid)
        msg, ml = await _events(ws, 2)
        assert msg["subtype"] == "channel_leave" and msg["user"] == uid
        assert ml["type"] == "member_left_channel" and ml["channel_type"] == ctype

    # users and channels
    w.change_user(uid, real_name="Late Joiner Jr", title="CTO")
    (uc,) = await _events(ws, 1)
    assert uc["type"] == "user_change" and uc["user"]["id"] == uid
    assert uc["user"]["real_name"] == "Late Joiner Jr" and uc["user"]["profile"]["title"] == "CTO"
    new = w.add_channel("fresh")
    (cc,) = await _events(ws, 1)
    assert cc["type"] == "channel_created"
    assert cc["channel"] == {
        "id": new,
        "name": "fresh",
        "created": w.channels_by_id[new].created,
        "creator": w.channels_by_id[new].creator,
    }

    # the bot joins a channel through the API
    out = ch["pub_out"]
    assert (await env.client.call("conversations.join", channel=out.id)).ok
    msg, mj = await _events(ws, 2)
    assert msg["subtype"] == "channel_join" and msg["user"] == w.bot_user_id
    assert mj["type"] == "member_joined_channel" and mj["user"] == w.bot_user_id
    await ws.close()


async def test_message_events_only_for_member_channels(serve: Starter) -> None:
    env = await serve()
    w = env.ws
    ch = _chans(w)
    ws, _ = await _connect(env)
    for key in ("pub_out", "priv_out"):
        c = ch[key]
        ts = w.post_message(c.id)
        rts = w.add_reply(c.id, ts)
        w.edit_message(c.id, rts, "x")
        w.delete_message(c.id, ts)
        w.rename_channel(c.id, c.name + "-2")
        w.archive_channel(c.id)
        w.unarchive_channel(c.id)
        uid = next(u.id for u in w.users if not u.is_bot and not u.deleted and u.id in c.members)
        w.leave(c.id, uid)
        w.add_member(c.id, uid)
    w.add_channel("hidden-private", is_private=True, is_member=False)
    marker = w.post_message(ch["pub"].id)
    got = await _events(ws, 4)
    # a public non-member channel: only its channel_* events; the private one: nothing
    assert [e["type"] for e in got] == [
        "channel_rename",
        "channel_archive",
        "channel_unarchive",
        "message",
    ]
    assert got[0]["channel"]["id"] == ch["pub_out"].id
    assert got[1]["channel"] == got[2]["channel"] == ch["pub_out"].id
    assert got[3]["ts"] == marker
    s = env.sim.stats()["socket"]
    assert s["events_published"] == 4 and s["acked"] == 4
    await ws.close()


async def test_round_robin_over_connections_in_order(serve: Starter) -> None:
    env = await serve()
    a, _ = await _connect(env)
    b, hello = await _connect(env)
    assert hello["num_connections"] == 2
    cid = _chans(env.ws)["pub"].id
    sent = [env.ws.post_message(cid, text=str(k)) for k in range(6)]
    ga, gb = await _events(a, 3), await _events(b, 3)
    assert sorted(e["ts"] for e in ga + gb) == sent
    for g in (ga, gb):
        assert [e["ts"] for e in g] == sorted(e["ts"] for e in g)  # publish order
    await a.close()
    await b.close()


def test_simulator_thread_mutations_from_another_thread() -> None:
    ws = Workspace.generate("tiny", 0)
    cid = _chans(ws)["pub"].id
    with SimulatorThread(ws, profile="unlimited", ack_timeout_s=0.3) as st:

        async def run() -> None:
            async with aiohttp.ClientSession() as s:
                async with s.post(
                    st.base_url + "apps.connections.open",
                    headers={"Authorization": f"Bearer {DEFAULT_APP_TOKEN}"},
                ) as r:
                    url = (await r.json())["url"]
                sock = await s.ws_connect(url)
                assert (await _recv(sock))["type"] == "hello"
                ts = ws.post_message(cid)  # this thread; the server runs in another
                frame = await _recv(sock)
                assert frame["payload"]["event"]["ts"] == ts
                await _ack(sock, frame)
                assert st.socket.drop() == 1  # thread-safe from here
                msg = await asyncio.wait_for(sock.receive(), 2)
                assert msg.type in (
                    aiohttp.WSMsgType.CLOSE,
                    aiohttp.WSMsgType.CLOSED,
                    aiohttp.WSMsgType.ERROR,
                )

        asyncio.run(run())
        s = st.stats()["socket"]
        assert s["acked"] == 1 and s["open"] == 0 and s["events_published"] == 1


async def test_slack_sdk_socket_mode_client(serve: Starter) -> None:
    from slack_sdk.socket_mode.aiohttp import SocketModeClient
    from slack_sdk.socket_mode.request import SocketModeRequest
    from slack_sdk.socket_mode.response import SocketModeResponse
    from slack_sdk.web.async_client import AsyncWebClient

    env = await serve(ack_timeout_s=1.0)
    got: asyncio.Queue[SocketModeRequest] = asyncio.Queue()

    async def listener(client: SocketModeClient, req: SocketModeRequest) -> None:
        await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
        await got.put(req)

    client = SocketModeClient(
        app_token=DEFAULT_APP_TOKEN,
        web_client=AsyncWebClient(base_url=env.sim.base_url, token=env.ws.token),
        auto_reconnect_enabled=False,
    )
    client.socket_mode_request_listeners.append(listener)  # type: ignore[arg-type]
    try:
        await client.connect()
        for _ in range(100):
            if env.sim.stats()["socket"]["open"] == 1:
                break
            await asyncio.sleep(0.02)
        cid = _chans(env.ws)["pub"].id
        ts = env.ws.post_message(cid, text="hi sdk")
        req = await asyncio.wait_for(got.get(), 5)
        assert req.type == "events_api" and req.retry_attempt == 0
        assert req.payload["event"]["ts"] == ts and req.payload["event"]["text"] == "hi sdk"
        for _ in range(100):
            if env.sim.stats()["socket"]["acked"] == 1:
                break
            await asyncio.sleep(0.02)
        s = env.sim.stats()["socket"]
        assert s["acked"] == 1 and s["redelivered"] == 0
    finally:
        await client.close()
