"""Auth errors, token styles, GET/POST/JSON requests, unknown methods, scopes."""

from __future__ import annotations

import pytest

from .conftest import Env, Starter


@pytest.mark.parametrize("style", ["post", "get", "json", "form_token", "query_token"])
async def test_every_request_style_authenticates(tiny: Env, style: str) -> None:
    r = await tiny.client.call("conversations.info", style=style, channel=tiny.ws.channels[0].id)
    assert r.ok, r.body
    assert r.body["channel"]["is_general"] is True
    r = await tiny.client.call("auth.test", style=style)
    assert (
        r.ok and r.body["team_id"] == tiny.ws.team_id and r.body["user_id"] == tiny.ws.app_user.id
    )


async def test_json_body_values_may_be_typed(tiny: Env) -> None:
    ch = tiny.ws.channels[1]
    r = await tiny.client.call(
        "conversations.history", style="json", channel=ch.id, limit=3, inclusive=True
    )
    assert r.ok and len(r.body["messages"]) == 3


async def test_missing_and_unknown_tokens(tiny: Env) -> None:
    for style in ("post", "get", "json"):
        r = await tiny.client.call("auth.test", token=None, style=style)
        assert (r.status, r.body) == (200, {"ok": False, "error": "not_authed"})
    r = await tiny.client.call("auth.test", token="xoxb-nope")
    assert (r.status, r.error) == (200, "invalid_auth")
    r = await tiny.client.call("auth.test", token="xoxb-nope", style="form_token")
    assert r.error == "invalid_auth"


@pytest.mark.parametrize(
    ("flag", "code"),
    [("revoked", "token_revoked"), ("expired", "token_expired"), ("inactive", "account_inactive")],
)
async def test_dead_tokens(tiny: Env, flag: str, code: str) -> None:
    tiny.sim.add_token("xoxb-dead", **{flag: True})
    r = await tiny.client.call("conversations.list", token="xoxb-dead")
    assert (r.status, r.body) == (200, {"ok": False, "error": code})


async def test_added_token_with_all_scopes_works(tiny: Env) -> None:
    tiny.sim.add_token("xoxb-second")
    r = await tiny.client.call("users.list", token="xoxb-second")
    assert r.ok and len(r.body["members"]) == len(tiny.ws.users)


async def test_missing_scope_has_needed_and_provided(tiny: Env) -> None:
    tiny.sim.add_token("xoxb-narrow", scopes={"channels:read", "users:read"})
    c = tiny.client
    ws = tiny.ws
    public = ws.channels[1]
    private = next(ch for ch in ws.channels if ch.is_private and ch.is_member)
    cases = [
        ("conversations.history", {"channel": public.id}, "channels:history"),
        ("conversations.replies", {"channel": private.id, "ts": "1.0"}, "groups:history"),
        ("conversations.info", {"channel": private.id}, "groups:read"),
        ("conversations.list", {"types": "public_channel,private_channel"}, "groups:read"),
        ("team.info", {}, "team:read"),
        ("conversations.join", {"channel": public.id}, "channels:join"),
    ]
    for method, params, needed in cases:
        r = await c.call(method, token="xoxb-narrow", **params)
        assert r.status == 200
        assert r.body == {
            "ok": False,
            "error": "missing_scope",
            "needed": needed,
            "provided": "channels:read,users:read",
        }, method
    # the scopes it has work
    assert (await c.call("conversations.list", token="xoxb-narrow")).ok
    assert (await c.call("users.list", token="xoxb-narrow")).ok


async def test_unknown_method(tiny: Env) -> None:
    r = await tiny.client.call("chat.postMessage", channel="C1", text="hi")
    assert (r.status, r.body) == (200, {"ok": False, "error": "unknown_method"})
    r = await tiny.client.call("chat.postMessage", token=None)
    assert r.error == "unknown_method"


async def test_invalid_json_body(tiny: Env) -> None:
    async with tiny.client.session.post(
        tiny.sim.base_url + "auth.test",
        data=b"{not json",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {tiny.ws.token}"},
    ) as r:
        assert r.status == 200
        assert (await r.json())["error"] == "invalid_json"


async def test_default_token_has_every_scope(serve: Starter) -> None:
    env = await serve("tiny", profile="internal")
    for method in ("auth.test", "team.info", "users.list", "conversations.list"):
        assert (await env.client.call(method)).ok, method
