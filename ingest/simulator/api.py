"""Slack Web API methods over a Workspace: auth, scopes, pagination, Slack's error codes.

Transport-free: `Api.call(method, params, token)` returns the JSON body (ok:true) or
raises `ApiError`; the HTTP server adds rate limits, faults, latency and stats.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import cursor as cursors
from . import render
from .hashing import mix
from .messages import Ref
from .model import Channel, parse_ts
from .workspace import Workspace

ALL_SCOPES = frozenset(
    {
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
        "users:read",
        "team:read",
        "channels:join",
        "im:read",
        "mpim:read",
    }
)
INF = 1 << 62

# method -> (default, max) for `limit`; None default = "everything" (users.list)
PAGE_LIMITS: dict[str, tuple[int | None, int]] = {
    "conversations.history": (100, 999),
    "conversations.replies": (1000, 1000),
    "conversations.list": (100, 999),
    "conversations.members": (100, 1000),
    "users.list": (None, 1000),
}
UNLISTED_PAGE_LIMITS = {"conversations.history": (15, 15), "conversations.replies": (15, 15)}
USERS_LIST_UNPAGINATED_MAX = 1000
SHORT_PAGE_PCT = 10  # percent of non-final pages deliberately shorter than `limit`
_TYPE_SCOPES = {
    "public_channel": "channels:read",
    "private_channel": "groups:read",
    "mpim": "mpim:read",
    "im": "im:read",
}


@dataclass
class TokenInfo:
    scopes: frozenset[str] = ALL_SCOPES
    revoked: bool = False
    expired: bool = False
    inactive: bool = False


class ApiError(Exception):
    """An ok:false answer: `code` plus extra body fields (e.g. needed/provided)."""

    def __init__(self, code: str, **extra: Any) -> None:
        super().__init__(code)
        self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"ok": False, "error": self.code, **self.extra}


def _truthy(value: str | None) -> bool:
    return value is not None and value.strip().lower() in ("1", "true", "yes")


class Api:
    def __init__(
        self, ws: Workspace, profile: str = "internal", replies_parent_every_page: bool = True
    ) -> None:
        self.ws = ws
        self.profile = profile
        self.replies_parent_every_page = replies_parent_every_page
        self.tokens: dict[str, TokenInfo] = {ws.token: TokenInfo()}
        self.methods: dict[str, Callable[[dict[str, str], TokenInfo], dict[str, Any]]] = {
            "auth.test": self.auth_test,
            "team.info": self.team_info,
            "users.list": self.users_list,
            "users.info": self.users_info,
            "conversations.list": self.conversations_list,
            "conversations.info": self.conversations_info,
            "conversations.members": self.conversations_members,
            "conversations.history": self.conversations_history,
            "conversations.replies": self.conversations_replies,
            "conversations.join": self.conversations_join,
        }

    # ------------------------------------------------------------------ plumbing
    def authenticate(self, token: str | None) -> TokenInfo:
        if not token:
            raise ApiError("not_authed")
        info = self.tokens.get(token)
        if info is None:
            raise ApiError("invalid_auth")
        if info.revoked:
            raise ApiError("token_revoked")
        if info.expired:
            raise ApiError("token_expired")
        if info.inactive:
            raise ApiError("account_inactive")
        return info

    def call(self, method: str, params: dict[str, str], token: str | None) -> dict[str, Any]:
        handler = self.methods.get(method)
        if handler is None:
            raise ApiError("unknown_method")
        info = self.authenticate(token)
        return handler(params, info)

    @staticmethod
    def items_of(body: dict[str, Any]) -> int:
        """Items a successful body carries (list length, or 1 for single objects)."""
        for key in ("messages", "channels", "members"):
            if key in body:
                return len(body[key])
        return 1

    @staticmethod
    def _need(info: TokenInfo, *scopes: str) -> None:
        missing = [s for s in scopes if s not in info.scopes]
        if missing:
            raise ApiError(
                "missing_scope", needed=",".join(missing), provided=",".join(sorted(info.scopes))
            )

    def _limit(self, method: str, params: dict[str, str]) -> int | None:
        default, maximum = PAGE_LIMITS[method]
        if self.profile == "unlisted" and method in UNLISTED_PAGE_LIMITS:
            default, maximum = UNLISTED_PAGE_LIMITS[method]
        raw = params.get("limit")
        n: int | None = default
        if raw is not None and raw.strip() != "":
            try:
                n = int(raw)
            except ValueError:
                raise ApiError("invalid_limit") from None
            if n <= 0:  # Slack treats 0 (and we treat negatives) as "use the default"
                n = default
        return min(n, maximum) if n is not None else None

    def _short(self, *key: int) -> bool:
        """Deterministically make ~10% of non-final pages short (Slack does this)."""
        return mix(self.ws.seed, 0x5407, *key) % 100 < SHORT_PAGE_PCT

    def _trim(self, items: list, limit: int, *key: int) -> tuple[list, bool]:
        """items holds up to limit+1 entries -> (page, has_more)."""
        has_more = len(items) > limit
        page = items[:limit]
        if has_more and limit > 1 and self._short(*key):
            page = page[: max(1, limit // 2)]
        return page, has_more

    @staticmethod
    def _cursor(params: dict[str, str], kind: str, **expect: Any) -> dict[str, Any] | None:
        raw = params.get("cursor")
        if raw is None or raw == "":
            return None
        try:
            return cursors.decode(raw, kind, **expect)
        except cursors.InvalidCursor:
            raise ApiError("invalid_cursor") from None

    def _visible_channel(self, params: dict[str, str]) -> Channel:
        cid = params.get("channel")
        if not cid:
            raise ApiError("invalid_arguments")
        ch = self.ws.channel(cid)
        if ch is None or (ch.is_private and not ch.is_member):
            raise ApiError("channel_not_found")
        return ch

    def _readable_channel(self, params: dict[str, str], info: TokenInfo) -> Channel:
        ch = self._visible_channel(params)
        self._need(info, "groups:history" if ch.is_private else "channels:history")
        if not ch.is_member:
            raise ApiError("not_in_channel")
        return ch

    @staticmethod
    def _bounds(params: dict[str, str]) -> tuple[int, int]:
        """(lo_excl, hi_excl) from oldest/latest/inclusive: keep lo_excl < ts < hi_excl."""
        inclusive = _truthy(params.get("inclusive"))
        lo, hi = -1, INF
        raw = params.get("oldest")
        if raw is not None and raw.strip() != "":
            v = parse_ts(raw)
            if v is None:
                raise ApiError("invalid_ts_oldest")
            lo = v - 1 if inclusive else v
        raw = params.get("latest")
        if raw is not None and raw.strip() != "":
            v = parse_ts(raw)
            if v is None:
                raise ApiError("invalid_ts_latest")
            hi = v + 1 if inclusive else v
        return lo, hi

    @staticmethod
    def _page_body(key: str, items: list, next_cursor: str, **extra: Any) -> dict[str, Any]:
        return {"ok": True, key: items, **extra, "response_metadata": {"next_cursor": next_cursor}}

    # ------------------------------------------------------------------ methods
    def auth_test(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        ws = self.ws
        return {
            "ok": True,
            "url": f"https://{ws.domain}.slack.com/",
            "team": ws.team_name,
            "user": ws.app_user.name,
            "team_id": ws.team_id,
            "user_id": ws.app_user.id,
            "bot_id": ws.app_user.bot_id,
            "app_id": ws.app_user.app_id,
            "is_enterprise_install": False,
        }

    def team_info(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        self._need(info, "team:read")
        ws = self.ws
        return {"ok": True, "team": render.team_obj(ws.team_id, ws.team_name, ws.domain)}

    def users_list(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        self._need(info, "users:read")
        users = self.ws.users
        limit = self._limit("users.list", params)
        if limit is None:
            if len(users) > USERS_LIST_UNPAGINATED_MAX:
                raise ApiError("limit_required")
            limit = len(users)
        c = self._cursor(params, "u")
        offset = int(c["o"]) if c else 0
        page, more = self._trim(users[offset : offset + limit + 1], limit, 1, offset)
        nxt = cursors.encode({"k": "u", "o": offset + len(page)}) if more else ""
        team = self.ws.team_id
        members = [render.user_obj(u, team) for u in page]
        return self._page_body("members", members, nxt, cache_ts=int(time.time()))

    def users_info(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        self._need(info, "users:read")
        uid = params.get("user")
        if not uid:
            raise ApiError("invalid_arguments")
        u = self.ws.users_by_id.get(uid)
        if u is None:
            raise ApiError("user_not_found")
        return {"ok": True, "user": render.user_obj(u, self.ws.team_id)}

    def conversations_list(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        raw_types = params.get("types") or "public_channel"
        types = [t.strip() for t in raw_types.split(",") if t.strip()]
        if not types or any(t not in _TYPE_SCOPES for t in types):
            raise ApiError("invalid_types")
        self._need(info, *dict.fromkeys(_TYPE_SCOPES[t] for t in types))
        want_public, want_private = "public_channel" in types, "private_channel" in types
        limit = self._limit("conversations.list", params)
        assert limit is not None
        c = self._cursor(params, "l", t=",".join(sorted(types)))
        offset = int(c["o"]) if c else 0
        with self.ws.lock:
            cands = [
                ch
                for ch in self.ws.visible_channels()
                if (want_private if ch.is_private else want_public)
            ]
            page, more = self._trim(cands[offset : offset + limit + 1], limit, 2, offset)
            nxt = (
                cursors.encode({"k": "l", "t": ",".join(sorted(types)), "o": offset + len(page)})
                if more
                else ""
            )
            if _truthy(params.get("exclude_archived")):  # filtered after paging, like Slack
                page = [ch for ch in page if not ch.is_archived]
            chans = [render.channel_obj(ch, self.ws.team_id) for ch in page]
        return self._page_body("channels", chans, nxt)

    def conversations_info(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        with self.ws.lock:
            ch = self._visible_channel(params)
            self._need(info, "groups:read" if ch.is_private else "channels:read")
            return {"ok": True, "channel": render.channel_obj(ch, self.ws.team_id)}

    def conversations_members(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        with self.ws.lock:
            ch = self._visible_channel(params)
            self._need(info, "groups:read" if ch.is_private else "channels:read")
            limit = self._limit("conversations.members", params)
            assert limit is not None
            c = self._cursor(params, "m", c=ch.id)
            offset = int(c["o"]) if c else 0
            page, more = self._trim(
                ch.members[offset : offset + limit + 1], limit, 3, ch.idx, offset
            )
        nxt = cursors.encode({"k": "m", "c": ch.id, "o": offset + len(page)}) if more else ""
        return self._page_body("members", list(page), nxt)

    def conversations_history(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            ch = self._readable_channel(params, info)
            limit = self._limit("conversations.history", params)
            assert limit is not None
            lo, hi = self._bounds(params)
            c = self._cursor(params, "h", c=ch.id)
            if c is not None:  # continue strictly below the last message returned
                lo, hi = int(c["lo"]), int(c["b"])
            items = list(itertools.islice(ws.iter_history(ch, hi, lo), limit + 1))
            page, more = self._trim(items, limit, 4, ch.idx, hi % (1 << 62))
            msgs = [ws.render(ch, us, ref) for us, ref in page]
        nxt = cursors.encode({"k": "h", "c": ch.id, "b": page[-1][0], "lo": lo}) if more else ""
        return self._page_body("messages", msgs, nxt, has_more=more, pin_count=ch.pin_count)

    def conversations_replies(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        ws = self.ws
        with ws.lock:
            ch = self._readable_channel(params, info)
            raw_ts = params.get("ts")
            if not raw_ts:
                raise ApiError("invalid_arguments")
            limit = self._limit("conversations.replies", params)
            assert limit is not None
            lo, hi = self._bounds(params)
            us = parse_ts(raw_ts)
            ref: Ref | None = ws.resolve(ch, us) if us is not None else None
            if us is None or ref is None or not ws.is_live(ch, us, ref) or ws.is_join(ch, ref):
                raise ApiError("thread_not_found")
            c = self._cursor(params, "r", c=ch.id, t=us)
            if not ws.is_parent(ch, us, ref):  # a plain message or a reply: just itself
                if c is not None:
                    raise ApiError("invalid_cursor")
                msg = ws.render(ch, us, ref)
                return self._page_body("messages", [msg], "", has_more=False)
            first = c is None
            if c is not None:
                lo, hi = int(c["a"]), int(c["hi"])
            items = list(itertools.islice(ws.iter_replies(ch, us, ref, lo, hi), limit + 1))
            page, more = self._trim(items, limit, 5, ch.idx, us % (1 << 62), lo % (1 << 62))
            msgs = [ws.render(ch, r_us, r_ref) for r_us, r_ref in page]
            if first or self.replies_parent_every_page:
                msgs.insert(0, ws.render(ch, us, ref))
        nxt = (
            cursors.encode({"k": "r", "c": ch.id, "t": us, "a": page[-1][0], "hi": hi})
            if more
            else ""
        )
        return self._page_body("messages", msgs, nxt, has_more=more)

    def conversations_join(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        self._need(info, "channels:join")
        with self.ws.lock:
            ch = self._visible_channel(params)
            if ch.is_private:
                raise ApiError("method_not_supported_for_channel_type")
            if ch.is_archived:
                raise ApiError("is_archived")
            body: dict[str, Any] = {"ok": True}
            if ch.is_member:
                body["warning"] = "already_in_channel"
            else:
                self.ws.join(ch.id)
            body["channel"] = render.channel_obj(ch, self.ws.team_id)
            return body
