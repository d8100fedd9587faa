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
        "im:history",
        "mpim:history",
        "files:read",
        "usergroups:read",
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
FILES_COUNT = (100, 1000)  # files.list `count`: (default, max)
FILE_TYPES = {  # files.list `types` -> does a file match
    "all": lambda f: True,
    "spaces": lambda f: f["filetype"] == "space",
    "snippets": lambda f: f["mode"] == "snippet",
    "images": lambda f: f["mimetype"].startswith("image/"),
    "gdocs": lambda f: f["filetype"] == "gdoc",
    "zips": lambda f: f["filetype"] == "zip",
    "pdfs": lambda f: f["filetype"] == "pdf",
}
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
    user: str | None = None  # a user token acting as this user; None: the app's bot


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
        self.tokens: dict[str, TokenInfo] = {
            ws.token: TokenInfo(),
            ws.user_token: TokenInfo(user=ws.user_token_user.id),
        }
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
            "files.list": self.files_list,
            "usergroups.list": self.usergroups_list,
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
        for key in ("messages", "channels", "members", "files", "usergroups"):
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

    def _visible_channel(self, params: dict[str, str], viewer: str | None = None) -> Channel:
        cid = params.get("channel")
        if not cid:
            raise ApiError("invalid_arguments")
        ch = self.ws.channel(cid)
        if ch is None or not self.ws.can_see(ch, viewer):
            raise ApiError("channel_not_found")
        return ch

    @staticmethod
    def _scope(ch: Channel, what: str) -> str:
        """The scope reading (what = "read" or "history") this kind of conversation needs."""
        kind = (
            "im"
            if ch.is_im
            else "mpim"
            if ch.is_mpim
            else "groups"
            if ch.is_private
            else "channels"
        )
        return f"{kind}:{what}"

    def _conversation_obj(self, ch: Channel, viewer: str | None = None) -> dict[str, Any]:
        """The conversation as the bot (viewer None) or user `viewer` sees it."""
        ws = self.ws
        if ch.is_im:
            me = viewer or ws.app_user.id
            other = next((m for m in ch.members if m != me), ch.dm_user)
            return render.im_obj(ch, ws.team_id, ws.users_by_id.get(other))
        if ch.is_mpim:
            return render.mpim_obj(ch, ws.team_id)
        obj = render.channel_obj(ch, ws.team_id)
        if viewer is not None:
            obj["is_member"] = viewer in ch.members
        return obj

    def _readable_channel(self, params: dict[str, str], info: TokenInfo) -> Channel:
        ch = self._visible_channel(params, info.user)
        self._need(info, self._scope(ch, "history"))
        if not self.ws.can_read(ch, info.user):
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
        if info.user is not None:  # a user token: no bot_id / app_id
            u = ws.users_by_id[info.user]
            return {
                "ok": True,
                "url": f"https://{ws.domain}.slack.com/",
                "team": ws.team_name,
                "user": u.name,
                "team_id": ws.team_id,
                "user_id": u.id,
                "is_enterprise_install": False,
            }
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
        want = {
            "public": "public_channel" in types,
            "private": "private_channel" in types,
            "im": "im" in types,
            "mpim": "mpim" in types,
        }
        limit = self._limit("conversations.list", params)
        assert limit is not None
        c = self._cursor(params, "l", t=",".join(sorted(types)))
        offset = int(c["o"]) if c else 0
        with self.ws.lock:
            cands = [
                ch
                for ch in self.ws.visible_conversations(info.user)
                if want[
                    "im"
                    if ch.is_im
                    else "mpim"
                    if ch.is_mpim
                    else "private"
                    if ch.is_private
                    else "public"
                ]
            ]
            page, more = self._trim(cands[offset : offset + limit + 1], limit, 2, offset)
            nxt = (
                cursors.encode({"k": "l", "t": ",".join(sorted(types)), "o": offset + len(page)})
                if more
                else ""
            )
            if _truthy(params.get("exclude_archived")):  # filtered after paging, like Slack
                page = [ch for ch in page if not ch.is_archived]
            chans = [self._conversation_obj(ch, info.user) for ch in page]
        return self._page_body("channels", chans, nxt)

    def conversations_info(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        with self.ws.lock:
            ch = self._visible_channel(params, info.user)
            self._need(info, self._scope(ch, "read"))
            return {"ok": True, "channel": self._conversation_obj(ch, info.user)}

    def conversations_members(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        with self.ws.lock:
            ch = self._visible_channel(params, info.user)
            self._need(info, self._scope(ch, "read"))
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
            ch = self._visible_channel(params, info.user)
            if ch.is_private:
                raise ApiError("method_not_supported_for_channel_type")
            if ch.is_archived:
                raise ApiError("is_archived")
            body: dict[str, Any] = {"ok": True}
            if info.user is not None:  # a user token: that user joins
                if info.user in ch.members:
                    body["warning"] = "already_in_channel"
                else:
                    self.ws.add_member(ch.id, info.user)
            elif ch.is_member:
                body["warning"] = "already_in_channel"
            else:
                self.ws.join(ch.id)
            body["channel"] = self._conversation_obj(ch, info.user)
            return body

    def files_list(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        """Classic paging (count, page); newest first; files of conversations the token
        can read (a file stays listed, unshared, after its message is deleted)."""
        self._need(info, "files:read")
        ws = self.ws
        count = _int_param(params, "count", FILES_COUNT[0])
        count = min(count if count > 0 else FILES_COUNT[0], FILES_COUNT[1])
        page_no = max(1, _int_param(params, "page", 1))
        raw_types = params.get("types") or "all"
        types = [t.strip() for t in raw_types.split(",") if t.strip()] or ["all"]
        if any(t not in FILE_TYPES for t in types):
            raise ApiError("unknown_type")
        ts_from = self._file_ts(params, "ts_from", 0)
        ts_to = self._file_ts(params, "ts_to", INF)
        with ws.lock:
            cid = params.get("channel") or None
            if cid is not None:
                self._visible_channel(params, info.user)
            uid = params.get("user") or None
            if uid is not None and uid not in ws.users_by_id:
                raise ApiError("user_not_found")
            entries = [
                e
                for e in ws.file_entries(info.user)
                if (cid is None or (e[4] and e[1].id == cid))
                and (uid is None or e[0]["user"] == uid)
                and ts_from <= e[0]["created"] <= ts_to
                and any(FILE_TYPES[t](e[0]) for t in types)
            ]
            total = len(entries)
            start = (page_no - 1) * count
            files = [
                render.file_obj(f, ch, ws.file_share(ch, us, ref) if live else None)
                for f, ch, us, ref, live in entries[start : start + count]
            ]
        pages = (total + count - 1) // count
        return {
            "ok": True,
            "files": files,
            "paging": {"count": count, "total": total, "page": page_no, "pages": pages},
        }

    @staticmethod
    def _file_ts(params: dict[str, str], name: str, default: int) -> int:
        raw = params.get(name)
        if raw is None or raw.strip() == "":
            return default
        v = parse_ts(raw)
        if v is None:
            raise ApiError("invalid_arguments")
        return v // 1_000_000

    def usergroups_list(self, params: dict[str, str], info: TokenInfo) -> dict[str, Any]:
        """No paging; disabled groups only with include_disabled."""
        self._need(info, "usergroups:read")
        users = _truthy(params.get("include_users"))
        count = _truthy(params.get("include_count"))
        disabled = _truthy(params.get("include_disabled"))
        with self.ws.lock:
            groups = [
                render.usergroup_obj(g, self.ws.team_id, users, count)
                for g in self.ws.usergroups
                if disabled or not g.disabled
            ]
        return {"ok": True, "usergroups": groups}


def _int_param(params: dict[str, str], name: str, default: int) -> int:
    raw = params.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ApiError("invalid_arguments") from None
