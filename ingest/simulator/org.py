"""An Enterprise Grid org: several simulated workspaces behind one org-wide bot token.

Why: an org-wide install is loaded workspace by workspace (`team_id` on every
workspace-level method), Slack's rate limits stay per method *per workspace*, and a
channel shared between workspaces of the org must be loaded once. The org is built
around unchanged `Workspace` and `Api` objects: `OrgRouter` authenticates a request,
picks the workspace it acts on (the token's own team, or `team_id` for the org token),
dispatches to that workspace's `Api` (to the host's for a channel shared into it) and
rewrites the channel objects of shared channels. `SingleRouter` is the same interface
over one workspace, so the server has one request path.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import cursor as cursors
from .api import ALL_SCOPES, Api, ApiError, TokenInfo
from .errors import SimulatorConfigError
from .generate import SIZES
from .hashing import make_id, mix, str_key
from .model import Channel
from .workspace import MUTATION_OPS, Truth, Workspace

DEFAULT_ORG_TOKEN = "xoxb-sim-org-0-local-simulator-token"
ORG_SIZES = ("small", "tiny", "small", "tiny", "tiny", "small", "tiny", "tiny")
#: Methods an org-wide token calls at the org level (no team_id; rate-limited against the org).
ORG_METHODS = ("auth.test", "auth.teams.list")
AUTH_TEAMS_LIMITS = (100, 1000)  # auth.teams.list `limit`: default, max
_SEED_STRIDE = 1000  # workspace k of org seed s has seed s * 1000 + k + 1
_RESEED = 100_003  # a workspace whose ids collide is regenerated with seed + attempt * this
_MAX_RESEEDS = 50

Handler = Callable[[], dict[str, Any]]


def _check_token(info: TokenInfo) -> TokenInfo:
    if info.revoked:
        raise ApiError("token_revoked")
    if info.expired:
        raise ApiError("token_expired")
    if info.inactive:
        raise ApiError("account_inactive")
    return info


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes")


@dataclass(frozen=True)
class OrgTruth:
    """What a perfect loader of the whole org (org-wide token) would load.

    `teams` holds each workspace's own `Truth` (a shared channel belongs to its host's
    truth only); the unions cover every team, so a shared channel, its members and its
    messages appear once. `channel_team` maps every visible channel to its host team,
    `user_team` every user to its (only) team, `shared` every shared channel to the teams
    it is in (host included).
    """

    enterprise_id: str
    teams: dict[str, Truth] = field(compare=False)
    channel_ids: frozenset[str]
    readable_channel_ids: frozenset[str]
    user_ids: frozenset[str]
    members: frozenset[tuple[str, str]]
    messages: frozenset[tuple[str, str]]
    channel_team: dict[str, str] = field(default_factory=dict, compare=False)
    user_team: dict[str, str] = field(default_factory=dict, compare=False)
    shared: dict[str, frozenset[str]] = field(default_factory=dict, compare=False)

    def message_count(self) -> int:
        return len(self.messages)

    def reply_count(self) -> int:
        """Thread replies among `messages` (each channel counted in its host's truth)."""
        return sum(t.reply_count() for t in self.teams.values())


class Org:
    """Workspaces of one Enterprise Grid org, some channels shared between them."""

    def __init__(
        self,
        enterprise_id: str,
        name: str,
        token: str,
        seed: int,
        workspaces: list[Workspace],
        shared: dict[str, tuple[str, ...]],
    ) -> None:
        if not workspaces:
            raise SimulatorConfigError("an org needs at least one workspace")
        self.enterprise_id = enterprise_id
        self.name = name
        self.domain = f"sim-org-{enterprise_id[1:].lower()}"
        self.token = token
        self.seed = seed
        self.workspaces = workspaces
        self._by_team = {ws.team_id: ws for ws in workspaces}
        if len(self._by_team) != len(workspaces):
            raise SimulatorConfigError("two workspaces of the org share a team id")
        #: shared channel id -> (host team id, guest team ids...)
        self.shared = shared

    @classmethod
    def generate(
        cls,
        n: int = 8,
        seed: int = 0,
        sizes: Sequence[str] | None = None,
        *,
        token: str = DEFAULT_ORG_TOKEN,
    ) -> Org:
        """Build the org of n workspaces for seed; sizes cycled/truncated to n
        (default ORG_SIZES). Ids are unique across the org; SimulatorConfigError
        (a ValueError) for n < 1 or an unknown size."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise SimulatorConfigError(f"an org needs at least 1 workspace, got {n!r}")
        pattern = tuple(sizes) if sizes is not None else ORG_SIZES
        if not pattern:
            raise SimulatorConfigError("org sizes must name at least one workspace size")
        for s in pattern:
            if s not in SIZES:
                raise SimulatorConfigError(
                    f"unknown workspace size {s!r}; expected one of {', '.join(SIZES)}"
                )
        if not token:
            raise SimulatorConfigError("the org token must not be empty")
        taken: set[str] = set()
        workspaces: list[Workspace] = []
        for k, size in zip(range(n), itertools.cycle(pattern), strict=False):
            ws = _unique_workspace(size, seed * _SEED_STRIDE + k + 1, k, taken)
            ws.team_name = f"Simulated {size} workspace {k + 1}"
            if ws.token == token:
                raise SimulatorConfigError("the org token must differ from workspace tokens")
            workspaces.append(ws)
        enterprise_id = make_id("E", mix(seed, str_key("enterprise")), 8)
        shared = _share_channels(workspaces, seed)
        return cls(enterprise_id, f"Simulated org {seed}", token, seed, workspaces, shared)

    def __repr__(self) -> str:
        return (
            f"Org(enterprise_id={self.enterprise_id!r}, seed={self.seed}, "
            f"teams={[(ws.team_id, ws.size) for ws in self.workspaces]})"
        )

    # ---------------------------------------------------------------- lookups
    @property
    def team_ids(self) -> list[str]:
        return [ws.team_id for ws in self.workspaces]

    def workspace(self, team_id: str) -> Workspace:
        """The workspace of team_id; KeyError for a team not in the org."""
        try:
            return self._by_team[team_id]
        except KeyError:
            raise KeyError(f"team {team_id!r} is not a workspace of {self.enterprise_id}") from None

    def has_team(self, team_id: str) -> bool:
        return team_id in self._by_team

    def host_of(self, channel_id: str) -> Workspace | None:
        """The workspace a channel belongs to (its host for a shared channel)."""
        for ws in self.workspaces:
            if ws.channel(channel_id) is not None:
                return ws
        return None

    def shared_into(self, team_id: str) -> list[str]:
        """Shared channels team_id is a guest of (in sharing order)."""
        return [cid for cid, teams in self.shared.items() if team_id in teams[1:]]

    def summary(self) -> dict[str, Any]:
        per = [ws.summary() for ws in self.workspaces]
        return {
            "enterprise_id": self.enterprise_id,
            "seed": self.seed,
            "teams": [(ws.team_id, ws.size) for ws in self.workspaces],
            "channels": sum(s["channels"] for s in per),
            "users": sum(s["users"] for s in per),
            "messages": sum(s["messages"] for s in per),
            "shared_channels": len(self.shared),
        }

    # ---------------------------------------------------------------- truth
    def truth(self) -> OrgTruth:
        teams = {ws.team_id: ws.truth() for ws in self.workspaces}
        channel_team = {c: tid for tid, t in teams.items() for c in t.channel_ids}
        user_team = {u: tid for tid, t in teams.items() for u in t.user_ids}
        return OrgTruth(
            enterprise_id=self.enterprise_id,
            teams=teams,
            channel_ids=frozenset(channel_team),
            readable_channel_ids=frozenset().union(
                *(t.readable_channel_ids for t in teams.values())
            ),
            user_ids=frozenset(user_team),
            members=frozenset().union(*(t.members for t in teams.values())),
            messages=frozenset().union(*(t.messages for t in teams.values())),
            channel_team=channel_team,
            user_team=user_team,
            shared={c: frozenset(ts) for c, ts in self.shared.items()},
        )

    # ---------------------------------------------------------------- mutations
    def mutate(
        self,
        rng_seed: int,
        n: int = 20,
        *,
        old_thread_window_s: float | None = None,
        any_age: bool = False,
    ) -> dict[str, int]:
        """Spread n random mutations over the workspaces (deterministic for rng_seed);
        about one in five posts to a shared channel through its host. Returns counts per op."""
        rng = random.Random(mix(self.seed, rng_seed, 0x0E6A))
        counts = dict.fromkeys(MUTATION_OPS, 0)
        per_ws = [0] * len(self.workspaces)
        shared_posts: list[str] = []
        live_shared = [c for c in self.shared if self._postable(c)]
        for _ in range(n):
            if live_shared and rng.random() < 0.2:
                shared_posts.append(rng.choice(live_shared))
            else:
                per_ws[rng.randrange(len(self.workspaces))] += 1
        for k, (ws, m) in enumerate(zip(self.workspaces, per_ws, strict=True)):
            if m:
                got = ws.mutate(
                    mix(rng_seed, k),
                    m,
                    old_thread_window_s=old_thread_window_s,
                    any_age=any_age,
                )
                for op, c in got.items():
                    counts[op] = counts.get(op, 0) + c
        for cid in shared_posts:
            host = self.host_of(cid)
            assert host is not None
            host.post_message(cid)
            counts["post_message"] += 1
        return counts

    def _postable(self, channel_id: str) -> bool:
        host = self.host_of(channel_id)
        ch = host.channel(channel_id) if host is not None else None
        return ch is not None and ch.is_member and not ch.is_archived and bool(ch.authors)


def _ids_of(ws: Workspace) -> set[str]:
    out = {ws.team_id}
    out.update(ch.id for ch in ws.conversations())  # channels, DMs and group DMs
    out.update(g.id for g in ws.usergroups)
    out.update(str(entry[0]["id"]) for entry in ws.file_entries())
    for u in ws.users:
        out.add(u.id)
        if u.bot_id:
            out.add(u.bot_id)
    return out


def _unique_workspace(size: str, seed: int, k: int, taken: set[str]) -> Workspace:
    """Workspace k, regenerated with another seed while any of its ids is already taken."""
    for attempt in range(_MAX_RESEEDS):
        s = seed + attempt * _RESEED
        ws = Workspace.generate(size, s, token=f"xoxb-sim-{s}-ws{k + 1}-local-simulator-token")
        ids = _ids_of(ws)
        if not ids & taken:
            taken.update(ids)
            return ws
    raise SimulatorConfigError(f"no collision-free seed for workspace {k + 1}")  # pragma: no cover


def _shareable(ch: Channel, used: set[str]) -> bool:
    return (
        not ch.is_private
        and ch.is_member
        and not ch.is_archived
        and not ch.is_general
        and ch.id not in used
    )


def _share_channels(workspaces: list[Workspace], seed: int) -> dict[str, tuple[str, ...]]:
    """Pick max(2, n // 2) readable public channels (never #general), hosts taken in turn,
    and share each with 1-2 other workspaces. The shared channel is renamed (as if created
    so) to a name no workspace of the org uses: guests list it next to their own."""
    n = len(workspaces)
    if n < 2:
        return {}
    rng = random.Random(mix(seed, 0x5A4ED))
    want = max(2, n // 2)
    shared: dict[str, tuple[str, ...]] = {}
    used: set[str] = set()
    for i in range(want * n):
        if len(shared) == want:
            break
        host = workspaces[i % n]
        cands = [ch for ch in host.channels if _shareable(ch, used)]
        if not cands:
            continue
        ch = rng.choice(cands)
        used.add(ch.id)
        others = [ws.team_id for ws in workspaces if ws is not host]
        guests = rng.sample(others, min(len(others), 1 + (rng.random() < 0.5)))
        ch.name = f"{ch.name}-shared-{host.team_id[1:5].lower()}"
        shared[ch.id] = (host.team_id, *guests)
    return shared


# ------------------------------------------------------------------ request routing
class SingleRouter:
    """One workspace: every token of its Api acts on it; rate limits keyed by its team."""

    def __init__(self, api: Api) -> None:
        self.api = api
        self.team_id = api.ws.team_id

    @property
    def methods(self) -> dict[str, Any]:
        return self.api.methods

    def team_of(self, method: str, params: dict[str, str], token: str | None) -> str | None:
        return self.team_id

    def knows(self, token: str) -> bool:
        return token in self.api.tokens

    def route(self, method: str, params: dict[str, str], token: str | None) -> tuple[str, Handler]:
        info = self.api.authenticate(token)
        handler = self.api.methods[method]
        return self.team_id, lambda: handler(params, info)

    def items_of(self, body: dict[str, Any]) -> int:
        return self.api.items_of(body)


class OrgRouter:
    """The org: the org-wide token (team_id names the workspace) and each workspace's token.

    A request acts on one team's view: conversations.list of a guest lists the channels
    shared into it after its own; conversations.* on a shared channel are answered by the
    host's Api; every shared channel object carries Slack's sharing fields for the view.
    """

    def __init__(self, org: Org, profile: str, replies_parent_every_page: bool) -> None:
        self.org = org
        self.apis = {
            ws.team_id: Api(ws, profile, replies_parent_every_page) for ws in org.workspaces
        }
        self.api = self.apis[org.workspaces[0].team_id]
        self.org_tokens: dict[str, TokenInfo] = {org.token: TokenInfo(scopes=ALL_SCOPES)}
        self.methods: dict[str, Any] = {**self.api.methods, "auth.teams.list": None}

    def items_of(self, body: dict[str, Any]) -> int:
        if "teams" in body:
            return len(body["teams"])
        return self.api.items_of(body)

    # ---------------------------------------------------------------- auth
    def _token_team(self, token: str) -> str | None:
        for tid, api in self.apis.items():
            if token in api.tokens:
                return tid
        return None

    def knows(self, token: str) -> bool:
        return token in self.org_tokens or self._token_team(token) is not None

    def team_of(self, method: str, params: dict[str, str], token: str | None) -> str | None:
        """The team a request counts against (rate limits, stats); None if none is known."""
        if not token:
            return None
        if token in self.org_tokens:
            if method in ORG_METHODS:
                return self.org.enterprise_id
            tid = params.get("team_id") or ""
            return tid if tid in self.apis else None
        return self._token_team(token)

    def route(self, method: str, params: dict[str, str], token: str | None) -> tuple[str, Handler]:
        """Authenticate and pick the view: (rate-limit team, handler); ApiError otherwise."""
        if not token:
            raise ApiError("not_authed")
        org_info = self.org_tokens.get(token)
        if org_info is not None:
            info = _check_token(org_info)
            if method == "auth.test":
                return self.org.enterprise_id, lambda: self.org_auth_test()
            if method == "auth.teams.list":
                return self.org.enterprise_id, lambda: self.auth_teams_list(params, info)
            tid = params.get("team_id") or ""
            if not tid:
                raise ApiError("missing_argument")
            if tid not in self.apis:
                raise ApiError("team_access_not_granted")
            return tid, lambda: self.dispatch(tid, method, params, info)
        tid_or_none = self._token_team(token)
        if tid_or_none is None:
            raise ApiError("invalid_auth")
        tid = tid_or_none
        info = self.apis[tid].authenticate(token)
        if method == "auth.teams.list":
            return tid, lambda: self.auth_teams_list(params, info, only=tid)
        return tid, lambda: self.dispatch(tid, method, params, info)

    # ---------------------------------------------------------------- org-level methods
    def org_auth_test(self) -> dict[str, Any]:
        app_user = self.org.workspaces[0].app_user
        return {
            "ok": True,
            "url": f"https://{self.org.domain}.enterprise.slack.com/",
            "team": self.org.name,
            "user": app_user.name,
            "team_id": self.org.enterprise_id,
            "user_id": app_user.id,
            "bot_id": app_user.bot_id,
            "enterprise_id": self.org.enterprise_id,
            "app_id": app_user.app_id,
            "is_enterprise_install": True,
        }

    def auth_teams_list(
        self, params: dict[str, str], info: TokenInfo, only: str | None = None
    ) -> dict[str, Any]:
        default, maximum = AUTH_TEAMS_LIMITS
        raw = params.get("limit")
        limit = default
        if raw is not None and raw.strip() != "":
            try:
                limit = int(raw)
            except ValueError:
                raise ApiError("invalid_limit") from None
            if limit <= 0:
                limit = default
        limit = min(limit, maximum)
        offset = 0
        raw_cursor = params.get("cursor")
        if raw_cursor:
            try:
                offset = int(cursors.decode(raw_cursor, "teams")["o"])
            except (cursors.InvalidCursor, KeyError, TypeError, ValueError):
                raise ApiError("invalid_cursor") from None
        wss = [ws for ws in self.org.workspaces if only is None or ws.team_id == only]
        page = wss[offset : offset + limit]
        more = offset + len(page) < len(wss)
        icon = _truthy(params.get("include_icon"))
        teams = []
        for ws in page:
            t: dict[str, Any] = {"id": ws.team_id, "name": ws.team_name}
            if icon:
                t["icon"] = _team_icon(ws.team_id)
            teams.append(t)
        nxt = cursors.encode({"k": "teams", "o": offset + len(page)}) if more else ""
        return {"ok": True, "teams": teams, "response_metadata": {"next_cursor": nxt}}

    # ---------------------------------------------------------------- dispatch
    def dispatch(
        self, view: str, method: str, params: dict[str, str], info: TokenInfo
    ) -> dict[str, Any]:
        """Run method for team `view` and give shared channels their sharing fields."""
        api = self.apis[view]
        if method == "conversations.list":
            body = self._conversations_list(view, params, info)
        else:
            cid = params.get("channel") or ""
            teams = self.org.shared.get(cid)
            if method.startswith("conversations.") and teams and view in teams[1:]:
                api = self.apis[teams[0]]
            body = api.methods[method](params, info)
        return self._decorate(view, method, body)

    def _decorate(self, view: str, method: str, body: dict[str, Any]) -> dict[str, Any]:
        ch = body.get("channel")
        if isinstance(ch, dict):
            self._mark_shared(view, ch)
        chans = body.get("channels")
        if isinstance(chans, list):
            for c in chans:
                if isinstance(c, dict):
                    self._mark_shared(view, c)
        eid = self.org.enterprise_id
        if method == "auth.test":
            body["enterprise_id"] = eid
        elif method == "team.info" and isinstance(body.get("team"), dict):
            body["team"].update(enterprise_id=eid, enterprise_name=self.org.name)
        return body

    def _mark_shared(self, view: str, ch: dict[str, Any]) -> None:
        teams = self.org.shared.get(ch.get("id", ""))
        if teams is None:
            return
        ch.update(
            is_shared=True,
            is_org_shared=False,
            is_ext_shared=False,
            shared_team_ids=list(teams),
            conversation_host_id=teams[0],
            context_team_id=view,
        )
        if view != teams[0]:
            ch["is_member"] = True

    def _conversations_list(
        self, view: str, params: dict[str, str], info: TokenInfo
    ) -> dict[str, Any]:
        """The view's own channels, then (public_channel requested) those shared into it."""
        api = self.apis[view]
        types = sorted(
            {t.strip() for t in (params.get("types") or "public_channel").split(",") if t.strip()}
        )
        guest_of = self.org.shared_into(view)
        raw = params.get("cursor") or ""
        state: dict[str, Any] | None = None
        if raw and guest_of:
            try:
                state = cursors.decode(raw, "os", t=",".join(types), v=view)
            except cursors.InvalidCursor:
                state = None
        if state is None:
            body = api.methods["conversations.list"](params, info)
            if body["response_metadata"]["next_cursor"] or not guest_of:
                return body
            if "public_channel" not in types:
                return body
            offset = 0
        else:  # the view's own channels are done: validate the arguments, go on with shared
            body = api.methods["conversations.list"]({**params, "cursor": "", "limit": "1"}, info)
            body["channels"] = []
            offset = int(state["o"])
        limit = _list_limit(api, params)
        room = limit - len(body["channels"])
        page: list[str] = guest_of[offset : offset + max(room, 0)]
        more = offset + len(page) < len(guest_of)
        for cid in page:
            host_api = self.apis[self.org.shared[cid][0]]
            ch = host_api.methods["conversations.info"]({"channel": cid}, info)["channel"]
            if _truthy(params.get("exclude_archived")) and ch.get("is_archived"):
                continue
            body["channels"].append(ch)
        body["response_metadata"]["next_cursor"] = (
            cursors.encode({"k": "os", "t": ",".join(types), "v": view, "o": offset + len(page)})
            if more
            else ""
        )
        return body


def _list_limit(api: Api, params: dict[str, str]) -> int:
    """conversations.list's effective `limit` for this Api (its profile's default and max)."""
    n = api._limit("conversations.list", params)
    assert n is not None
    return n


def _team_icon(team_id: str) -> dict[str, Any]:
    base = f"https://a.slack-edge.com/sim/img/avatars-teams/{team_id.lower()}"
    return {
        **{f"image_{px}": f"{base}-{px}.png" for px in (34, 44, 68, 88, 102, 132, 230)},
        "image_default": True,
    }
