"""DMs, group DMs, files, user groups and reactions: shapes, visibility, scopes, paging and
truth, mostly in-process through `Api.call` (plus one loopback HTTP check)."""

from __future__ import annotations

from typing import Any

import pytest

from ingest.simulator import Workspace
from ingest.simulator.api import ALL_SCOPES, Api, ApiError, TokenInfo
from ingest.simulator.workspace import MUTATION_OPS, Truth

from .conftest import Starter

ALL_TYPES = "public_channel,private_channel,mpim,im"
IM_KEYS = {
    "id",
    "created",
    "is_archived",
    "is_im",
    "is_org_shared",
    "context_team_id",
    "updated",
    "user",
    "is_user_deleted",
    "priority",
}
FILE_KEYS = {
    "id",
    "created",
    "timestamp",
    "name",
    "title",
    "mimetype",
    "filetype",
    "pretty_type",
    "user",
    "user_team",
    "size",
    "mode",
    "is_external",
    "is_public",
    "public_url_shared",
    "permalink",
    "url_private",
    "channels",
    "groups",
    "ims",
    "shares",
}


def _call(api: Api, method: str, token: str | None = None, **params: Any) -> dict[str, Any]:
    return api.call(method, {k: str(v) for k, v in params.items()}, token or api.ws.token)


def _pages(api: Api, method: str, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    out, cursor = [], ""
    while True:
        body = _call(api, method, token, **params, cursor=cursor)
        out.append(body)
        cursor = body["response_metadata"]["next_cursor"]
        if not cursor:
            return out


def _files(api: Api, token: str | None = None, **params: Any) -> list[dict[str, Any]]:
    """Every files.list page (classic paging), asserting the paging block."""
    out: list[dict[str, Any]] = []
    page = 1
    while True:
        body = _call(api, "files.list", token, page=page, **params)
        paging = body["paging"]
        assert paging["page"] == page and paging["count"] == int(params.get("count", 100))
        out += body["files"]
        if page >= paging["pages"]:
            assert len(out) == paging["total"]
            return out
        page += 1


def _walk(api: Api, token: str | None = None) -> dict[str, Any]:
    """A perfect loader over every conversation type: ids, members, messages, reactions
    and file shares as served."""
    convs = [
        c for p in _pages(api, "conversations.list", token, types=ALL_TYPES) for c in p["channels"]
    ]
    readable = [c["id"] for c in convs if c.get("is_member", True)]  # ims: always readable
    members: set[tuple[str, str]] = set()
    keys: list[tuple[str, str]] = []
    reactions: set[tuple[str, str, str, str]] = set()
    shares: set[tuple[str, str, str]] = set()

    def take(cid: str, m: dict[str, Any]) -> None:
        keys.append((cid, m["ts"]))
        for r in m.get("reactions", ()):
            assert r["count"] == len(r["users"]) > 0
            reactions.update((cid, m["ts"], r["name"], u) for u in r["users"])
        shares.update((f["id"], cid, m["ts"]) for f in m.get("files", ()))

    for cid in readable:
        for p in _pages(api, "conversations.members", token, channel=cid):
            members.update((cid, u) for u in p["members"])
        for p in _pages(api, "conversations.history", token, channel=cid, limit=200):
            for m in p["messages"]:
                if m.get("subtype") != "thread_broadcast":
                    take(cid, m)
                if m.get("thread_ts") == m["ts"]:
                    for rp in _pages(api, "conversations.replies", token, channel=cid, ts=m["ts"]):
                        for r in rp["messages"]:
                            if r["ts"] != m["ts"]:
                                take(cid, r)
    return {
        "convs": convs,
        "readable": set(readable),
        "members": members,
        "keys": keys,
        "reactions": reactions,
        "shares": shares,
    }


def _check(api: Api, t: Truth, token: str | None = None) -> None:
    got = _walk(api, token)
    assert len(got["keys"]) == len(set(got["keys"])) and set(got["keys"]) == t.messages
    assert {c["id"] for c in got["convs"]} == t.channel_ids
    assert got["readable"] == t.readable_channel_ids
    assert got["members"] == t.members
    assert {c["id"] for c in got["convs"] if c.get("is_im")} == t.dm_ids
    assert {c["id"] for c in got["convs"] if c.get("is_mpim")} == t.group_dm_ids
    names = {c["id"]: c["name"] for c in got["convs"] if not c.get("is_im")}
    assert names == t.channel_names
    assert got["reactions"] == t.reactions
    assert got["shares"] == t.file_shares
    files = _files(api, token, count=7)
    ids = [f["id"] for f in files]
    assert len(ids) == len(set(ids)) and set(ids) == t.files
    assert {f for f, _, _ in t.file_shares} <= t.files
    listed_shares = {
        (f["id"], cid, s["ts"])
        for f in files
        for kind in ("public", "private")
        for cid, lst in f["shares"].get(kind, {}).items()
        for s in lst
    }
    assert listed_shares == t.file_shares


@pytest.fixture(scope="module")
def tiny() -> Workspace:
    return Workspace.generate("tiny", 0)


def test_dm_generation_tiny(tiny: Workspace) -> None:
    bot, h0 = tiny.app_user.id, tiny.users[0].id
    ims = [c for c in tiny.dms if c.is_im]
    mpims = [c for c in tiny.dms if c.is_mpim]
    assert len(ims) == 3 and len(mpims) == 2
    assert sum(bot in c.members for c in ims) == 2 and sum(bot in c.members for c in mpims) == 1
    assert all(c.id.startswith("D") for c in ims) and all(c.id.startswith("G") for c in mpims)
    assert any(h0 in c.members and bot in c.members for c in ims)
    assert any(h0 in c.members and bot not in c.members for c in ims)
    assert all(10 <= c.n_top <= 60 and len(c.parents) >= 1 for c in tiny.dms)
    small = Workspace.generate("small", 0)
    assert len(small.dms) == 12 and len(small.usergroups) == 5
    # the channels are as before DMs existed: DMs come after, in their own list
    assert all(c.id.startswith("C") for c in small.channels)


def test_im_and_mpim_shapes_and_visibility(tiny: Workspace) -> None:
    api = Api(tiny)
    bot = tiny.app_user.id
    listed = _call(api, "conversations.list", types="im,mpim")["channels"]
    ims = [c for c in listed if c.get("is_im")]
    mpims = [c for c in listed if c.get("is_mpim")]
    assert {c["id"] for c in listed} == {c.id for c in tiny.dms if bot in c.members}
    for c in ims:
        assert set(c) == IM_KEYS and c["is_im"] is True and c["priority"] == 0
        assert c["user"] != bot and c["user"] in tiny.channels_by_id[c["id"]].members
    for c in mpims:
        assert c["is_mpim"] and c["is_private"] and c["is_member"] and not c["is_channel"]
        assert c["name"].startswith("mpdm-") and c["name"].endswith("-1")
        assert c["purpose"]["value"].startswith("Group messaging with: @")
        assert c["num_members"] == len(tiny.channels_by_id[c["id"]].members)
    # channels answer is_im/is_mpim false; the default types list no DMs
    chans = _call(api, "conversations.list", types="public_channel,private_channel")["channels"]
    assert chans and all(c["is_im"] is False and c["is_mpim"] is False for c in chans)
    assert not any(c["id"][0] in "DG" for c in _call(api, "conversations.list")["channels"])
    # humans-only DMs are invisible to the bot
    hidden = [c for c in tiny.dms if bot not in c.members]
    assert hidden
    for c in hidden:
        for method in ("conversations.info", "conversations.history", "conversations.members"):
            with pytest.raises(ApiError) as e:
                _call(api, method, channel=c.id)
            assert e.value.code == "channel_not_found"
    im = tiny.channels_by_id[ims[0]["id"]]
    assert _call(api, "conversations.info", channel=im.id)["channel"]["id"] == im.id
    assert _call(api, "conversations.members", channel=im.id)["members"] == im.members
    with pytest.raises(ApiError) as e:
        _call(api, "conversations.join", channel=im.id)
    assert e.value.code == "method_not_supported_for_channel_type"


@pytest.mark.parametrize(
    ("method", "params", "scope"),
    [
        ("conversations.list", {"types": "im"}, "im:read"),
        ("conversations.list", {"types": "public_channel,mpim"}, "mpim:read"),
        ("conversations.history", {"channel": "im"}, "im:history"),
        ("conversations.replies", {"channel": "mpim", "ts": "1.0"}, "mpim:history"),
        ("conversations.info", {"channel": "mpim"}, "mpim:read"),
        ("files.list", {}, "files:read"),
        ("usergroups.list", {}, "usergroups:read"),
    ],
)
def test_missing_scope_names_it(
    tiny: Workspace, method: str, params: dict[str, str], scope: str
) -> None:
    api = Api(tiny)
    api.tokens["xoxb-narrow"] = TokenInfo(scopes=ALL_SCOPES - {scope})
    kind = params.get("channel")
    if kind is not None:
        params = {
            **params,
            "channel": next(c.id for c in tiny.dms if c.is_member and c.is_im == (kind == "im")),
        }
    with pytest.raises(ApiError) as e:
        api.call(method, params, "xoxb-narrow")
    assert e.value.code == "missing_scope" and e.value.extra["needed"] == scope
    assert {"im:history", "mpim:history", "files:read", "usergroups:read"} <= ALL_SCOPES


def test_files_list_shapes_paging_and_filters(tiny: Workspace) -> None:
    api = Api(tiny)
    t = tiny.truth(full=True)
    files = _files(api, count=4)
    assert [f["id"] for f in files] == [f["id"] for f in _files(api, count=1000)]  # stable
    assert len(files) == len(t.files) == len({f["id"] for f in files}) > 4
    assert [f["created"] for f in files] == sorted((f["created"] for f in files), reverse=True)
    for f in files:
        assert FILE_KEYS <= set(f)
        ((kind, by_ch),) = f["shares"].items()
        ((cid, (share,)),) = by_ch.items()
        ch = tiny.channels_by_id[cid]
        where = "ims" if ch.is_im else "groups" if ch.is_private else "channels"
        assert f[where] == [cid] and kind == ("private" if ch.is_private else "public")
        assert f["is_public"] == (kind == "public")
        assert {"ts", "channel_name", "team_id", "share_user_id", "reply_count"} <= set(share)
        msg = tiny.message(cid, share["ts"])
        assert msg is not None
        assert [x for x in msg["files"] if x["id"] == f["id"]][0]["name"] == f["name"]
    # filters
    cid = next(iter(files[0]["channels"] or files[0]["groups"] or files[0]["ims"]))
    in_ch = _files(api, channel=cid)
    assert in_ch and all(cid in f["channels"] + f["groups"] + f["ims"] for f in in_ch)
    user = files[0]["user"]
    assert {f["id"] for f in _files(api, user=user)} == {
        f["id"] for f in files if f["user"] == user
    }
    lo = files[len(files) // 2]["created"]
    assert {f["id"] for f in _files(api, ts_from=lo)} == {
        f["id"] for f in files if f["created"] >= lo
    }
    assert {f["id"] for f in _files(api, types="images")} == {
        f["id"] for f in files if f["mimetype"].startswith("image/")
    }
    body = _call(api, "files.list", count=5000)
    assert body["paging"]["count"] == 1000
    with pytest.raises(ApiError):
        _call(api, "files.list", types="bogus")


def test_files_stay_after_their_message_is_deleted() -> None:
    ws = Workspace.generate("tiny", 0)
    api = Api(ws)
    f = _call(api, "files.list", count=1)["files"][0]
    ((cid, (share,)),) = next(iter(f["shares"].values())).items()
    before = ws.truth(full=True)
    ws.delete_message(cid, share["ts"])
    after = ws.truth(full=True)
    assert after.files == before.files
    assert (f["id"], cid, share["ts"]) in before.file_shares - after.file_shares
    again = [x for x in _files(api, count=100) if x["id"] == f["id"]]
    assert len(again) == 1 and again[0]["shares"] == {} and again[0]["channels"] == []


def test_usergroups_list(tiny: Workspace) -> None:
    api = Api(tiny)
    enabled = _call(api, "usergroups.list")["usergroups"]
    everything = _call(api, "usergroups.list", include_disabled="true", include_users="true")[
        "usergroups"
    ]
    assert len(enabled) == 1 and len(everything) == 2
    assert "users" not in enabled[0] and "user_count" not in enabled[0]
    disabled = [g for g in everything if g["date_delete"]]
    assert len(disabled) == 1 and disabled[0]["deleted_by"]
    humans = {u.id for u in tiny.users if not u.is_bot}
    for g in everything:
        assert g["id"].startswith("S") and g["is_usergroup"] and g["auto_type"] is None
        assert set(g["prefs"]) == {"channels", "groups"} and set(g["users"]) <= humans
    counted = _call(api, "usergroups.list", include_count="1")["usergroups"]
    assert counted[0]["user_count"] == len(everything[0]["users"])
    t = tiny.truth(full=True)
    assert t.usergroups == {g["id"] for g in everything}
    assert t.usergroup_members == {(g["id"], u) for g in everything for u in g["users"]}


def test_reactions_add_remove_render_truth_and_events() -> None:
    ws = Workspace.generate("tiny", 0)
    events: list[dict[str, Any]] = []
    ws.subscribe(events.append)
    im = next(c for c in ws.dms if c.is_im and c.is_member)
    msg = _call(Api(ws), "conversations.history", channel=im.id, limit=1)["messages"][0]
    ts, u1, u2 = msg["ts"], ws.users[0].id, ws.users[1].id
    ws.add_reaction(im.id, ts, "tada", u1)
    ws.add_reaction(im.id, ts, "tada", u2)
    got = [r for r in ws.message(im.id, ts)["reactions"] if r["name"] == "tada"]  # type: ignore[index]
    assert got == [{"name": "tada", "users": [u1, u2], "count": 2}]
    assert {(im.id, ts, "tada", u1), (im.id, ts, "tada", u2)} <= ws.truth(full=True).reactions
    with pytest.raises(ValueError, match="already_reacted"):
        ws.add_reaction(im.id, ts, "tada", u1)
    ws.remove_reaction(im.id, ts, "tada", u1)
    ws.remove_reaction(im.id, ts, "tada", u2)
    assert all(r["name"] != "tada" for r in ws.message(im.id, ts).get("reactions", ()))  # type: ignore[union-attr]
    assert not {r for r in ws.truth(full=True).reactions if r[2] == "tada" and r[1] == ts}
    with pytest.raises(ValueError, match="no_reaction"):
        ws.remove_reaction(im.id, ts, "tada", u1)
    kinds = [e["type"] for e in events]
    assert kinds == ["reaction_added"] * 2 + ["reaction_removed"] * 2
    assert events[0]["item"] == {"type": "message", "channel": im.id, "ts": ts}
    assert events[0]["user"] == u1 and events[0]["reaction"] == "tada" and events[0]["item_user"]
    # a DM message event carries channel_type im; a humans-only DM sends none
    ws.post_message(im.id, text="hi")
    assert events[-1]["channel_type"] == "im"
    hidden = next(c for c in ws.dms if not c.is_member)
    n = len(events)
    ws.post_message(hidden.id, text="private")
    assert len(events) == n


def test_mutate_touches_dms_and_reactions_and_truth_follows() -> None:
    ws = Workspace.generate("tiny", 0)
    counts = ws.mutate(3, n=150, any_age=True)
    counts2 = ws.mutate(4, n=60)
    assert tuple(counts)[-2:] == MUTATION_OPS[-2:] == ("add_reaction", "remove_reaction")
    assert counts["add_reaction"] and counts["remove_reaction"] and counts2["add_reaction"]
    assert any(c.extra for c in ws.dms if c.is_member)
    assert any(c.react for c in ws.dms) and any(c.react for c in ws.channels)
    t = ws.truth(full=True)
    assert t == ws.truth()  # the full fields take no part in equality
    assert set(ws.iter_message_keys()) == t.messages
    _check(Api(ws), t)


async def test_over_http(serve: Starter) -> None:
    env = await serve("tiny")
    c = env.client
    t = env.ws.truth(full=True)
    r = await c.call("files.list", count=3, page=2)
    assert r.ok and r.body["paging"] == {
        "count": 3,
        "total": len(t.files),
        "page": 2,
        "pages": -(-len(t.files) // 3),
    }
    r = await c.call("usergroups.list", include_disabled=True)
    assert r.ok and {g["id"] for g in r.body["usergroups"]} == t.usergroups
    r = await c.call("conversations.list", types="im,mpim")
    assert r.ok and {ch["id"] for ch in r.body["channels"]} == t.dm_ids | t.group_dm_ids


def test_user_token_sees_user_0s_conversations() -> None:
    ws = Workspace.generate("tiny", 0)
    api = Api(ws)
    tok, u0 = ws.user_token, ws.users[0].id
    assert tok.startswith("xoxp-sim-") and tok != ws.token
    me = _call(api, "auth.test", tok)
    assert me["user_id"] == u0 and "bot_id" not in me
    ws.mutate(5, n=80, any_age=True)
    t = ws.truth(as_user=True, full=True)
    humans_only = {c.id for c in ws.dms if u0 in c.members and ws.app_user.id not in c.members}
    assert humans_only and humans_only <= t.dm_ids | t.group_dm_ids
    assert humans_only.isdisjoint(ws.truth().channel_ids)
    hidden = {c.id for c in ws.conversations() if c.is_private and u0 not in c.members}
    assert hidden and hidden.isdisjoint(t.channel_ids)
    assert {c.id for c in ws.channels if not c.is_private} <= t.channel_ids
    assert t.readable_channel_ids == {c.id for c in ws.conversations() if u0 in c.members}
    _check(api, t, tok)
    ims = _call(api, "conversations.list", tok, types="im")["channels"]
    assert ims and all(c["user"] != u0 for c in ims)
