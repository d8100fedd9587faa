"""Enterprise Grid org: org-wide token, auth.teams.list, team_id dispatch, shared channels,
per-workspace rate limits and stats, OrgTruth against what the API serves."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from ingest.simulator import ORG_SIZES, Org, Simulator, SimulatorConfigError, serve_simulator
from ingest.simulator.org import _unique_workspace

from .conftest import Client

ROOT = Path(__file__).resolve().parents[2]
ALL_TYPES = "public_channel,private_channel,mpim,im"


@dataclass
class OrgEnv:
    org: Org
    sim: Simulator
    client: Client  # the org-wide token

    def as_team(self, team_id: str) -> Client:
        """A client with the workspace's own bot token."""
        return Client(self.client.session, self.sim.base_url, self.org.workspace(team_id).token)


OrgStarter = Callable[..., Awaitable[OrgEnv]]


@pytest.fixture
async def serve_org() -> AsyncIterator[OrgStarter]:
    """start(n=3, sizes=("tiny",), seed=0, **serve_kwargs) -> OrgEnv; stops at teardown."""
    async with contextlib.AsyncExitStack() as stack:
        session = await stack.enter_async_context(aiohttp.ClientSession())

        async def start(
            n: int = 3, sizes: tuple[str, ...] = ("tiny",), seed: int = 0, **kwargs: Any
        ) -> OrgEnv:
            org = Org.generate(n, seed, sizes)
            kwargs.setdefault("profile", "unlimited")
            sim = await stack.enter_async_context(serve_simulator(org, **kwargs))
            return OrgEnv(org, sim, Client(session, sim.base_url, org.token))

        yield start


async def _load_team(c: Client, team_id: str) -> dict[str, Any]:
    """Everything one team serves: channel ids (readable ones), users, members, messages."""
    channels: dict[str, dict[str, Any]] = {}
    for page in await c.pages("conversations.list", team_id=team_id, types=ALL_TYPES, limit=3):
        for ch in page["channels"]:
            assert ch["id"] not in channels, "a channel listed twice"
            channels[ch["id"]] = ch
    users = [u["id"] for p in await c.pages("users.list", team_id=team_id) for u in p["members"]]
    readable = {cid for cid, ch in channels.items() if ch.get("is_member", True)}
    members: set[tuple[str, str]] = set()
    messages: set[tuple[str, str]] = set()
    for cid in readable:
        for p in await c.pages("conversations.members", team_id=team_id, channel=cid):
            members.update((cid, m) for m in p["members"])
        for p in await c.pages("conversations.history", team_id=team_id, channel=cid, limit=200):
            for m in p["messages"]:
                messages.add((cid, m["ts"]))
                if m.get("reply_count"):
                    for rp in await c.pages(
                        "conversations.replies", team_id=team_id, channel=cid, ts=m["ts"]
                    ):
                        messages.update((cid, r["ts"]) for r in rp["messages"])
    return {
        "channels": channels,
        "readable": readable,
        "users": set(users),
        "members": members,
        "messages": messages,
    }


# ------------------------------------------------------------------ generation
def test_default_org_ids_unique_and_shared_channels() -> None:
    org = Org.generate()
    assert [ws.size for ws in org.workspaces] == list(ORG_SIZES)
    assert org.enterprise_id.startswith("E") and len(org.enterprise_id) == 9
    ids: list[str] = [ws.team_id for ws in org.workspaces]
    ids += [ch.id for ws in org.workspaces for ch in ws.channels]
    ids += [u.id for ws in org.workspaces for u in ws.users]
    assert len(ids) == len(set(ids))
    tokens = {org.token, *(ws.token for ws in org.workspaces)}
    assert len(tokens) == 9
    truth = org.truth()
    assert set(truth.teams) == set(org.team_ids)
    assert len(truth.messages) == sum(t.message_count() for t in truth.teams.values())
    assert len(org.shared) >= 2
    for cid, teams in org.shared.items():
        host = org.workspace(teams[0])
        ch = host.channel(cid)
        assert ch is not None and not ch.is_general and not ch.is_private and ch.is_member
        assert 2 <= len(teams) <= 3 and len(set(teams)) == len(teams)
        assert truth.channel_team[cid] == teams[0] and truth.shared[cid] == frozenset(teams)
        for guest in teams[1:]:  # a guest's own truth does not hold it: its host's does
            assert cid not in truth.teams[guest].channel_ids
    # deterministic, and sizes cycle
    again = Org.generate()
    assert again.team_ids == org.team_ids and again.shared == org.shared
    assert [ws.size for ws in Org.generate(3, 1, ["small", "tiny"]).workspaces] == [
        "small",
        "tiny",
        "small",
    ]


def test_id_collision_regenerates_workspace() -> None:
    first = _unique_workspace("tiny", 5, 0, set())
    taken = {first.team_id, first.channels[0].id}
    second = _unique_workspace("tiny", 5, 1, set(taken))  # same seed: collides, so reseeded
    assert second.seed != 5 and second.team_id != first.team_id
    assert second.seed == _unique_workspace("tiny", 5, 1, set(taken)).seed  # deterministic


def test_generate_bad_input() -> None:
    with pytest.raises(SimulatorConfigError, match="at least 1 workspace"):
        Org.generate(0)
    with pytest.raises(SimulatorConfigError, match="unknown workspace size 'huge'"):
        Org.generate(2, 0, ["tiny", "huge"])


# ------------------------------------------------------------------ auth
async def test_auth_test_and_teams_list(serve_org: OrgStarter) -> None:
    env = await serve_org(3)
    org, c = env.org, env.client
    r = await c.call("auth.test")
    assert r.ok and r.body["is_enterprise_install"] is True
    assert r.body["team_id"] == r.body["enterprise_id"] == org.enterprise_id
    assert r.body["team"] == org.name
    assert set(r.body) == {
        "ok",
        "url",
        "team",
        "team_id",
        "enterprise_id",
        "user",
        "user_id",
        "bot_id",
        "app_id",
        "is_enterprise_install",
    }
    ws = org.workspaces[1]
    own = await env.as_team(ws.team_id).call("auth.test")
    assert own.body["team_id"] == ws.team_id and own.body["is_enterprise_install"] is False
    assert own.body["enterprise_id"] == org.enterprise_id

    pages = await c.pages("auth.teams.list", limit=2)
    assert [len(p["teams"]) for p in pages] == [2, 1]
    teams = [t for p in pages for t in p["teams"]]
    assert [t["id"] for t in teams] == org.team_ids
    assert all(set(t) == {"id", "name"} and t["name"] for t in teams)
    assert len({t["name"] for t in teams}) == 3
    icons = await c.call("auth.teams.list", include_icon=True)
    assert all("image_34" in t["icon"] for t in icons.body["teams"])
    bad = await c.call("auth.teams.list", cursor="bm9wZQ==")
    assert bad.error == "invalid_cursor"
    mine = await env.as_team(ws.team_id).call("auth.teams.list")
    assert [t["id"] for t in mine.body["teams"]] == [ws.team_id]


async def test_team_id_required_and_checked(serve_org: OrgStarter) -> None:
    env = await serve_org(2)
    c = env.client
    assert (await c.call("conversations.list")).body == {"ok": False, "error": "missing_argument"}
    assert (await c.call("users.list", team_id="")).error == "missing_argument"
    r = await c.call("users.list", team_id="TNOTOURS1")
    assert r.body == {"ok": False, "error": "team_access_not_granted"}
    assert (await c.call("users.list", token="xoxb-nope", team_id="T1")).error == "invalid_auth"
    assert (await c.call("auth.teams.list", token=None)).error == "not_authed"
    a, b = env.org.workspaces
    env.sim.add_token("xoxb-extra-b", team_id=b.team_id)  # a token of workspace b
    r = await c.call("users.list", token="xoxb-extra-b", team_id=a.team_id)
    assert {u["id"] for u in r.body["members"]} == b.truth().user_ids
    env.sim.add_token("xoxb-org-revoked", revoked=True)  # another org-wide token
    r = await c.call("users.list", token="xoxb-org-revoked", team_id=a.team_id)
    assert r.error == "token_revoked"


async def test_dispatch_to_the_named_workspace(serve_org: OrgStarter) -> None:
    env = await serve_org(3)
    org, c = env.org, env.client
    for ws in org.workspaces:
        users = {
            u["id"] for p in await c.pages("users.list", team_id=ws.team_id) for u in p["members"]
        }
        assert users == ws.truth().user_ids
        info = await c.call("team.info", team_id=ws.team_id)
        assert info.body["team"]["id"] == ws.team_id
        assert info.body["team"]["enterprise_id"] == org.enterprise_id
    # a workspace's own token ignores team_id (Slack does)
    a, b = org.workspaces[0], org.workspaces[1]
    r = await env.as_team(a.team_id).call("users.list", team_id=b.team_id)
    assert {u["id"] for u in r.body["members"]} == a.truth().user_ids
    # a channel of another workspace, not shared with the team: not found
    other = next(ch for ch in b.channels if ch.id not in org.shared and ch.is_member)
    r = await c.call("conversations.history", team_id=a.team_id, channel=other.id)
    assert r.error == "channel_not_found"


# ------------------------------------------------------------------ shared channels
async def test_shared_channel_in_host_and_guest(serve_org: OrgStarter) -> None:
    env = await serve_org(3)
    org, c = env.org, env.client
    assert org.shared
    for cid, teams in org.shared.items():
        host, guests = teams[0], teams[1:]
        served: dict[str, set[str]] = {}
        for view in teams:
            listed = [
                ch
                for p in await c.pages("conversations.list", team_id=view, limit=2)
                for ch in p["channels"]
                if ch["id"] == cid
            ]
            assert len(listed) == 1, (view, cid)
            ch = listed[0]
            assert ch["is_shared"] is True and ch["is_org_shared"] is False
            assert ch["is_ext_shared"] is False and ch["is_member"] is True
            assert ch["shared_team_ids"] == list(teams)
            assert ch["conversation_host_id"] == host and ch["context_team_id"] == view
            info = await c.call("conversations.info", team_id=view, channel=cid)
            assert info.body["channel"]["context_team_id"] == view
            pages = await c.pages("conversations.history", team_id=view, channel=cid)
            served[view] = {m["ts"] for p in pages for m in p["messages"]}
            mem = await c.call("conversations.members", team_id=view, channel=cid)
            assert set(mem.body["members"]) == set(org.workspace(host).channel(cid).members)  # type: ignore[union-attr]
        assert all(served[g] == served[host] for g in guests)
        # the workspace's own token sees the same view
        own = await env.as_team(guests[0]).pages("conversations.list")
        assert cid in {ch["id"] for p in own for ch in p["channels"]}
        # a mutation on the host shows through every guest
        ts = org.workspace(host).post_message(cid, "hello from the host")
        for view in guests:
            r = await c.call("conversations.history", team_id=view, channel=cid, limit=1)
            assert r.body["messages"][0]["ts"] == ts
            replies = await c.call("conversations.replies", team_id=view, channel=cid, ts=ts)
            assert replies.ok and replies.body["messages"][0]["text"] == "hello from the host"
    # a shared-channel cursor made for another team is refused
    tampered = await c.call(
        "conversations.list",
        team_id=org.team_ids[0],
        cursor="eyJrIjoib3MiLCJ0IjoicHVibGljX2NoYW5uZWwiLCJ2IjoiVDEiLCJvIjowfQ==",
    )
    assert tampered.error == "invalid_cursor"


async def test_org_truth_equals_what_the_api_serves(serve_org: OrgStarter) -> None:
    env = await serve_org(3)
    org = env.org
    truth = org.truth()
    loads = {tid: await _load_team(env.client, tid) for tid in org.team_ids}
    for tid, got in loads.items():
        own = truth.teams[tid]
        into = set(org.shared_into(tid))
        assert set(got["channels"]) == own.channel_ids | into
        assert got["readable"] == own.readable_channel_ids | into
        assert got["users"] == own.user_ids
    union = lambda k: set().union(*(g[k] for g in loads.values()))  # noqa: E731
    assert union("channels") == truth.channel_ids
    assert union("readable") == truth.readable_channel_ids
    assert union("users") == truth.user_ids
    assert union("members") == truth.members
    assert union("messages") == truth.messages
    # shared channels' messages once: the union is the plain sum of each host's truth
    assert truth.message_count() == sum(t.message_count() for t in truth.teams.values())
    assert truth.user_team == {u: t for t, tr in truth.teams.items() for u in tr.user_ids}


async def test_org_mutate_keeps_truth_consistent(serve_org: OrgStarter) -> None:
    env = await serve_org(3, seed=4)
    org = env.org
    before = org.truth()
    counts = org.mutate(7, 40, any_age=True)
    assert sum(counts.values()) == 40
    after = org.truth()
    assert after.messages != before.messages
    assert after.messages == {k for ws in org.workspaces for k in ws.iter_message_keys()}
    shared_msgs = {k for k in after.messages - before.messages if k[0] in org.shared}
    assert shared_msgs, "no mutation reached a shared channel"
    ids = [ch.id for ws in org.workspaces for ch in ws.channels]
    ids += [u.id for ws in org.workspaces for u in ws.users]
    assert len(ids) == len(set(ids))
    # a guest reads the host's mutated channel
    cid, ts = max(shared_msgs, key=lambda k: k[1])
    guest = org.shared[cid][1]
    r = await env.client.call("conversations.history", team_id=guest, channel=cid, limit=1)
    assert r.body["messages"][0]["ts"] == ts
    same = Org.generate(3, 4, ["tiny"]).mutate(7, 40, any_age=True)
    assert same == counts


# ------------------------------------------------------------------ rate limits and stats
async def test_rate_limits_and_stats_per_team(serve_org: OrgStarter) -> None:
    # internal profile, real time: conversations.list is tier 2 (burst 5, one token per 3 s)
    env = await serve_org(2, profile="internal", time_scale=1.0)
    org, c = env.org, env.client
    a, b = org.team_ids
    ra = await asyncio.gather(*(c.call("conversations.list", team_id=a) for _ in range(8)))
    rb = await asyncio.gather(*(c.call("conversations.list", team_id=b) for _ in range(5)))
    assert sum(r.ok for r in ra) == 5 and sum(r.status == 429 for r in ra) == 3
    assert all(r.ok for r in rb)  # b has its own budget
    # b's own token shares b's bucket (now empty); the org's auth.test counts against the org
    assert (await env.as_team(b).call("conversations.list")).status == 429
    assert (await c.call("auth.test")).ok
    stats = env.sim.stats()
    teams = stats["teams"]
    assert teams[a]["methods"]["conversations.list"]["requests"] == 8
    assert teams[a]["methods"]["conversations.list"]["n_429"] == 3
    assert teams[b]["methods"]["conversations.list"]["requests"] == 6
    assert teams[b]["n_429"] == 1 and teams[b]["requests"] == 6
    assert teams[org.enterprise_id]["methods"]["auth.test"]["requests"] == 1
    assert set(teams[a]["methods"]["conversations.list"]) == set(
        stats["methods"]["conversations.list"]
    )
    assert stats["methods"]["conversations.list"]["requests"] == 14
    assert teams[a]["max_window"]["conversations.list"] == 8


async def test_single_workspace_stats_name_its_team() -> None:
    from ingest.simulator import Workspace

    ws = Workspace.generate("tiny", 2)
    async with serve_simulator(ws, profile="unlimited") as sim, aiohttp.ClientSession() as s:
        c = Client(s, sim.base_url, ws.token)
        assert (await c.call("auth.test")).ok
        assert (await c.call("auth.teams.list")).error == "unknown_method"
        assert sim.org is None and sim.workspace is ws
        assert sim.stats()["teams"][ws.team_id]["methods"]["auth.test"]["requests"] == 1


# ------------------------------------------------------------------ admin endpoints and CLI
async def test_admin_endpoints(serve_org: OrgStarter) -> None:
    env = await serve_org(3)
    org, s, url = env.org, env.client.session, env.sim.url
    assert env.sim.org is org and env.sim.workspace is org.workspaces[0]
    async with s.get(url + "/_sim/health") as r:
        health = await r.json()
    assert health["enterprise_id"] == org.enterprise_id
    assert [t["id"] for t in health["teams"]] == org.team_ids
    async with s.get(url + "/_sim/truth") as r:
        body = await r.json()
    truth = org.truth()
    assert body["message_count"] == truth.message_count()
    assert set(body["channel_ids"]) == truth.channel_ids
    assert body["shared"] == {c: sorted(t) for c, t in truth.shared.items()}
    tid = org.team_ids[2]
    async with s.get(url + "/_sim/truth", params={"team_id": tid}) as r:
        assert (await r.json())["team_id"] == tid
    async with s.get(url + "/_sim/truth", params={"team_id": "TNOPE"}) as r:
        assert r.status == 400
    cid = next(iter(org.shared))
    async with s.post(
        url + "/_sim/mutate", data=orjson.dumps({"op": "post_message", "channel_id": cid})
    ) as r:
        ts = (await r.json())["result"]
    assert (cid, ts) in org.truth().messages
    async with s.post(
        url + "/_sim/mutate", data=orjson.dumps({"op": "mutate", "rng_seed": 1, "n": 5})
    ) as r:
        assert sum((await r.json())["result"].values()) == 5
    async with s.post(
        url + "/_sim/mutate",
        params={"team_id": tid},
        data=orjson.dumps({"op": "add_user", "name": "x.y"}),
    ) as r:
        assert (await r.json())["result"] in org.workspace(tid).users_by_id
    async with s.post(
        url + "/_sim/mutate", data=orjson.dumps({"op": "add_user", "name": "z"})
    ) as r:
        assert r.status == 400 and "team_id" in (await r.json())["error"]


def test_cli_serves_an_org() -> None:
    code = (
        "from ingest.simulator.main import run_simulator_cli\n"
        "run_simulator_cli(port=0, seed=2, org=3, org_sizes='tiny', token='xoxb-org-cli',\n"
        "                  time_scale=60)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, text=True, env=env, cwd=ROOT
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        org = Org.generate(3, 2, ["tiny"])
        assert "org-token xoxb-org-cli" in line
        assert f"teams {','.join(f'{t}:tiny' for t in org.team_ids)}" in line
        base = next(w for w in line.split() if w.startswith("http://"))
        import urllib.request

        req = urllib.request.Request(
            base + "auth.teams.list", headers={"Authorization": "Bearer xoxb-org-cli"}
        )
        with urllib.request.urlopen(req, timeout=5) as r:
            teams = orjson.loads(r.read())["teams"]
        assert [t["id"] for t in teams] == org.team_ids
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_bad_org_input() -> None:
    from typer.testing import CliRunner

    from ingest.cli.app import app

    runner = CliRunner()
    for args, words in (
        (["--org", "0"], "--org"),
        (["--org", "2", "--org-sizes", "tiny,huge"], "huge"),
        (["--org-sizes", ","], "--org-sizes"),
    ):
        r = runner.invoke(app, ["simulate", "--port", "0", *args])
        assert r.exit_code == 2, (args, r.output)
        assert words in r.output and "Traceback" not in r.output
