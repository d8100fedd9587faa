"""Derivation of messages from (seed, channel index, message index), plus overlays.

Timestamp layout (all integers in microseconds, see `model`):

* top-level message i of a channel: second in [start + i*gap, start + (i+1)*gap),
  micro < 500000, so ts is strictly increasing in i and ts -> i is O(1);
* reply j of the thread whose parent is top-level p: second = parent second + 1 +
  j*step + jitter(< step), micro = 500000 + p % 500000. Two parents sharing a micro
  residue are >= 500000 s apart while a thread lasts < 400000 s, so reply ts never
  collide with each other nor (micro >= 500000) with top-level ts;
* mutation messages: wall clock, strictly increasing, above every generated ts.

A message is addressed by a *ref*: ("t", i) generated top-level, ("r", p, j) generated
reply, ("x", ts) a mutation-created message (`Channel.extra`).
"""

from __future__ import annotations

import heapq
from bisect import bisect_left
from collections.abc import Iterator
from typing import Any

from . import render
from .hashing import Draw, hex_uuid, mix_from, splitmix64
from .model import HORIZON_US, MAX_THREAD_S, REPLY_MICRO, US, Channel, Extra, User, ts_str
from .textgen import is_question_draw, question, text_length, text_slice

Ref = tuple  # ("t", i) | ("r", p, j) | ("x", us)

_TOP, _THREAD, _REPLY, _BODY, _RBODY, _AUTHOR = 1, 2, 3, 4, 5, 6
_G, _M = 0x9E3779B97F4A7C15, (1 << 64) - 1
_C1, _C2 = 0xBF58476D1CE4E5B9, 0x94D049BB133111EB
JOIN_FRAC = 0.025
BOT_FRAC = 0.06
EMPTY_TS = "0000000000.000000"
_SYSTEM_TEXT = {
    "channel_leave": "<@{user}> has left the channel",
    "channel_name": '<@{user}> has renamed the channel from "{old}" to "{new}"',
    "channel_archive": "<@{user}> archived the channel",
    "channel_unarchive": "<@{user}> un-archived the channel",
}


class MessageModel:
    """Message derivation and per-channel iteration. Callers hold `self.lock`."""

    seed: int
    team_id: str
    domain: str
    users: list[User]
    bots: list[User]  # integration bots that post bot_message (not the app user)
    _tcache: dict[tuple[int, int], Any]  # see thread_ctx

    # ---------------------------------------------------------------- derivation
    def top_us(self, ch: Channel, i: int) -> int:
        h = splitmix64(splitmix64(ch.hkey ^ i) ^ _TOP)
        return (ch.start + i * ch.gap + h % ch.gap) * US + (h >> 32) % REPLY_MICRO

    def count_below(self, ch: Channel, bound: int) -> int:
        """Number of generated top-level messages with ts < bound (O(1))."""
        i = (bound // US - ch.start) // ch.gap
        if i < 0:
            return 0
        if i >= ch.n_top:
            return ch.n_top
        return i + 1 if self.top_us(ch, i) < bound else i

    @staticmethod
    def nrep(ch: Channel, i: int) -> int:
        """Generated reply count of top-level i (0 if it is not a generated thread)."""
        pos = bisect_left(ch.parents, i)
        if pos < len(ch.parents) and ch.parents[pos] == i:
            return ch.nrep[pos]
        return 0

    def thread(self, ch: Channel, p: int, n: int) -> tuple[int, int, int, int]:
        """(first reply second, step, micro, hash) of generated thread p with n replies."""
        h = mix_from(ch.hkey, p, _THREAD)
        width = min(MAX_THREAD_S - 1, n * (20 + h % 2400))
        step = max(1, width // n)
        base = self.top_us(ch, p) // US + 1
        return base, step, REPLY_MICRO + p % REPLY_MICRO, h

    def thread_ctx(
        self, ch: Channel, p: int
    ) -> tuple[int, tuple[int, int, int, int], list[str], int, str, int]:
        """(n, thread(), pool, parent ts, parent author, mix prefix) of generated thread p.

        Pure functions of the generated data, cached (bounded) because every reply needs them.
        """
        key = (ch.idx, p)
        ctx = self._tcache.get(key)
        if ctx is None:
            n = self.nrep(ch, p)
            th = self.thread(ch, p, n)
            hp = splitmix64(ch.hkey ^ p)
            ctx = (n, th, self.pool(ch, th, n), self.top_us(ch, p), self.top_author(ch, p), hp)
            if len(self._tcache) >= 20_000:
                self._tcache.clear()
            self._tcache[key] = ctx
        return ctx

    def reply_us(self, ch: Channel, p: int, j: int, th: tuple[int, int, int, int]) -> int:
        base, step, micro, _ = th
        return (base + j * step + mix_from(ch.hkey, p, j, _REPLY) % step) * US + micro

    @staticmethod
    def body_hash(ch: Channel, i: int) -> int:
        """The hash every content choice of top-level message i derives from."""
        return splitmix64(splitmix64(ch.hkey ^ i) ^ _BODY)

    @staticmethod
    def all_top_us(ch: Channel) -> list[int]:
        """top_us(ch, i) for every i, with splitmix64 inlined (truth of `large` is ~1.5M)."""
        hk, start, gap = ch.hkey, ch.start, ch.gap
        out: list[int] = []
        app = out.append
        for i in range(ch.n_top):
            z = ((hk ^ i) + _G) & _M
            z = ((z ^ (z >> 30)) * _C1) & _M
            z = ((z ^ (z >> 27)) * _C2) & _M
            z = ((z ^ (z >> 31) ^ _TOP) + _G) & _M
            z = ((z ^ (z >> 30)) * _C1) & _M
            z = ((z ^ (z >> 27)) * _C2) & _M
            h = z ^ (z >> 31)
            app((start + i * gap + h % gap) * US + (h >> 32) % REPLY_MICRO)
        return out

    @staticmethod
    def all_reply_us(ch: Channel, p: int, n: int, th: tuple[int, int, int, int]) -> list[int]:
        """reply_us(ch, p, j, th) for every j < n, inlined like all_top_us."""
        base, step, micro, _ = th
        hp = splitmix64(ch.hkey ^ p)
        out: list[int] = []
        app = out.append
        for j in range(n):
            z = ((hp ^ j) + _G) & _M
            z = ((z ^ (z >> 30)) * _C1) & _M
            z = ((z ^ (z >> 27)) * _C2) & _M
            z = ((z ^ (z >> 31) ^ _REPLY) + _G) & _M
            z = ((z ^ (z >> 30)) * _C1) & _M
            z = ((z ^ (z >> 27)) * _C2) & _M
            h = z ^ (z >> 31)
            app((base + j * step + h % step) * US + micro)
        return out

    def top_author(self, ch: Channel, i: int, h: int | None = None) -> str:
        if i == 0:
            return ch.creator
        if h is None:
            h = self.body_hash(ch, i)
        return ch.authors[(h & 0xFFFFFF) % len(ch.authors)]

    def author_of(self, ch: Channel, ref: Ref) -> str:
        """User id of a message's author (a bot message's bot user)."""
        if ref[0] == "x":
            return ch.extra[ref[1]].user
        if ref[0] == "r":
            n = self.nrep(ch, ref[1])
            th = self.thread(ch, ref[1], n)
            return self.reply_author(ch, ref[1], ref[2], self.pool(ch, th, n))
        if self.top_kind(ch, ref[1]) == "bot":
            return Draw(self.body_hash(ch, ref[1])).pick(self.bots).id
        return self.top_author(ch, ref[1])

    def top_kind(self, ch: Channel, i: int, h: int | None = None) -> str:
        """ "join", "parent", "bot" or "user" (DMs: no joins, no integration bots)."""
        if ch.is_im or ch.is_mpim:
            return "parent" if self.nrep(ch, i) else "user"
        if i == 0:
            return "join"
        if self.nrep(ch, i):
            return "parent"
        if h is None:
            h = self.body_hash(ch, i)
        u = (h >> 11) / 9007199254740992.0
        if u < JOIN_FRAC:
            return "join"
        if u < JOIN_FRAC + BOT_FRAC and self.bots:
            return "bot"
        return "user"

    def pool(self, ch: Channel, th: tuple[int, int, int, int], n: int) -> list[str]:
        """Distinct repliers of a generated thread; reply j < len(pool) is by pool[j]."""
        h = th[3]
        k = min(n, 1 + (h >> 16) % 5)
        out: list[str] = []
        a = ch.authors
        for t in range(k):
            u = a[((h >> 24) + t * 7919) % len(a)]
            if u not in out:
                out.append(u)
        return out

    def reply_author(self, ch: Channel, p: int, j: int, pool: list[str]) -> str:
        if j < len(pool):
            return pool[j]
        return pool[mix_from(ch.hkey, p, j, _AUTHOR) % len(pool)]

    # ---------------------------------------------------------------- lookups
    def resolve(self, ch: Channel, us: int) -> Ref | None:
        """The message with this ts in ch (deleted or not), or None."""
        if us in ch.extra:
            return ("x", us)
        if us >= HORIZON_US or us < 0:
            return None
        sec, micro = divmod(us, US)
        if micro < REPLY_MICRO:
            i = (sec - ch.start) // ch.gap
            if 0 <= i < ch.n_top and self.top_us(ch, i) == us:
                return ("t", i)
            return None
        p = micro - REPLY_MICRO
        while p < ch.n_top:
            n = self.nrep(ch, p)
            if n:
                th = self.thread(ch, p, n)
                j = (sec - th[0]) // th[1]
                if 0 <= j < n and self.reply_us(ch, p, j, th) == us:
                    return ("r", p, j)
            p += REPLY_MICRO
        return None

    def ref_us(self, ch: Channel, ref: Ref) -> int:
        if ref[0] == "t":
            return self.top_us(ch, ref[1])
        if ref[0] == "r":
            n = self.nrep(ch, ref[1])
            return self.reply_us(ch, ref[1], ref[2], self.thread(ch, ref[1], n))
        return ref[1]

    def parent_of(self, ch: Channel, ref: Ref) -> int | None:
        """ts of the thread parent if ref is a reply, else None."""
        if ref[0] == "r":
            return self.top_us(ch, ref[1])
        if ref[0] == "x":
            return ch.extra[ref[1]].parent_us
        return None

    def is_live(self, ch: Channel, us: int, ref: Ref) -> bool:
        if not ch.deleted:
            return True
        if us in ch.deleted:
            return False
        parent = self.parent_of(ch, ref)
        return parent is None or parent not in ch.deleted

    def is_join(self, ch: Channel, ref: Ref) -> bool:
        """A system message (channel_join, and the channel_leave/name/archive/unarchive
        messages of mutations): no replies, no edits, thread_not_found in replies."""
        if ref[0] == "t":
            return self.top_kind(ch, ref[1]) == "join"
        if ref[0] == "x":
            return ch.extra[ref[1]].subtype is not None
        return False

    def gen_thread_n(self, ch: Channel, ref: Ref) -> int:
        return self.nrep(ch, ref[1]) if ref[0] == "t" else 0

    def is_parent(self, ch: Channel, us: int, ref: Ref) -> bool:
        return bool(self.gen_thread_n(ch, ref)) or us in ch.thread_extra

    # ---------------------------------------------------------------- iteration
    def iter_history(self, ch: Channel, hi_excl: int, lo_excl: int) -> Iterator[tuple[int, Ref]]:
        """Live top-level messages and broadcasts with lo_excl < ts < hi_excl, newest first."""
        tops = self._iter_tops_desc(ch, hi_excl, lo_excl)
        if ch.bc_us or ch.extra_hist:
            merged: Iterator[tuple[int, Ref]] = heapq.merge(
                tops,
                self._iter_sorted_desc(ch.bc_us, hi_excl, lo_excl, lambda k: ("r", *ch.bc_ref[k])),
                self._iter_sorted_desc(
                    ch.extra_hist, hi_excl, lo_excl, lambda k: ("x", ch.extra_hist[k])
                ),
                key=lambda t: t[0],
                reverse=True,
            )
        else:
            merged = tops
        if not ch.deleted:
            yield from merged
            return
        for us, ref in merged:
            if self.is_live(ch, us, ref):
                yield us, ref

    def _iter_tops_desc(self, ch: Channel, hi_excl: int, lo_excl: int) -> Iterator[tuple[int, Ref]]:
        i = self.count_below(ch, hi_excl) - 1
        top_us = self.top_us
        while i >= 0:
            us = top_us(ch, i)
            if us <= lo_excl:
                return
            yield us, ("t", i)
            i -= 1

    @staticmethod
    def _iter_sorted_desc(
        seq: list[int], hi_excl: int, lo_excl: int, mkref
    ) -> Iterator[tuple[int, Ref]]:  # type: ignore[no-untyped-def]
        k = bisect_left(seq, hi_excl) - 1
        while k >= 0 and seq[k] > lo_excl:
            yield seq[k], mkref(k)
            k -= 1

    def iter_replies(
        self, ch: Channel, parent_us: int, parent_ref: Ref, lo_excl: int, hi_excl: int
    ) -> Iterator[tuple[int, Ref]]:
        """Live replies of a thread with lo_excl < ts < hi_excl, oldest first."""
        if self.gen_thread_n(ch, parent_ref):
            p = parent_ref[1]
            n, th = self.thread_ctx(ch, p)[:2]
            reply_us = self.reply_us
            j = bisect_left(range(n), lo_excl + 1, key=lambda k: reply_us(ch, p, k, th))
            while j < n:
                us = reply_us(ch, p, j, th)
                if us >= hi_excl:
                    return
                if not ch.deleted or us not in ch.deleted:
                    yield us, ("r", p, j)
                j += 1
        for us in ch.thread_extra.get(parent_us, ()):
            if lo_excl < us < hi_excl and us not in ch.deleted:
                yield us, ("x", us)

    def thread_state(
        self, ch: Channel, parent_us: int, parent_ref: Ref
    ) -> tuple[int, list[str], int | None]:
        """(live reply count, reply users, latest live reply ts) of a thread."""
        n = self.gen_thread_n(ch, parent_ref)
        users: list[str] = []
        count = 0
        latest: int | None = None
        if n:
            p = parent_ref[1]
            th = self.thread(ch, p, n)
            pool = self.pool(ch, th, n)
            if parent_us in ch.dirty_threads:
                for j in range(n):
                    us = self.reply_us(ch, p, j, th)
                    if us in ch.deleted:
                        continue
                    count += 1
                    latest = us
                    u = self.reply_author(ch, p, j, pool)
                    if u not in users:
                        users.append(u)
            else:
                count, users, latest = n, list(pool), self.reply_us(ch, p, n - 1, th)
        for us in ch.thread_extra.get(parent_us, ()):
            if us in ch.deleted:
                continue
            count += 1
            latest = us
            u = ch.extra[us].user
            if u not in users:
                users.append(u)
        return count, users, latest

    # ---------------------------------------------------------------- rendering
    def render(self, ch: Channel, us: int, ref: Ref) -> dict[str, Any]:
        msg = self._render_base(ch, us, ref)
        if ch.react:
            r = ch.react.get(us)
            if r is not None:
                if r:
                    msg["reactions"] = [
                        {"name": n, "users": list(u), "count": len(u)} for n, u in r
                    ]
                else:
                    msg.pop("reactions", None)
        return msg

    def _render_base(self, ch: Channel, us: int, ref: Ref) -> dict[str, Any]:
        """The message without the reactions overlay."""
        if ref[0] == "t":
            return self._render_top(ch, ref[1], us)
        if ref[0] == "r":
            return self._render_reply(ch, ref[1], ref[2], us)
        return self._render_extra(ch, ch.extra[us])

    def scan_generated(
        self, ch: Channel
    ) -> tuple[list[tuple[int, Ref, list[dict[str, Any]]]], dict[int, list[dict[str, Any]]]]:
        """(file-carrying messages [(ts, ref, files)], {ts: generated reactions}) of ch's
        generated messages, deleted ones included. Generated content never changes, so
        callers may cache this. Only messages whose draws say files or reactions are
        rendered (the draws of `_body` are replayed: ~15% of messages)."""
        files: list[tuple[int, Ref, list[dict[str, Any]]]] = []
        reacts: dict[int, list[dict[str, Any]]] = {}

        def take(us: int, ref: Ref) -> None:
            m = self._render_base(ch, us, ref)
            if "files" in m:
                files.append((us, ref, m["files"]))
            if "reactions" in m:
                reacts[us] = m["reactions"]

        for i, us in enumerate(self.all_top_us(ch)):
            h = self.body_hash(ch, i)
            kind = self.top_kind(ch, i, h)
            if kind == "join":
                continue
            if kind != "bot":
                d = Draw(h)
                a, b = d.u64(), d.u64()
                if (a >> 50) & 1023 >= 123 and (b >> 54) & 1023 >= 31:
                    continue
            take(us, ("t", i))
        for p, n in zip(ch.parents, ch.nrep, strict=True):
            hp = splitmix64(ch.hkey ^ p)
            for j, us in enumerate(self.all_reply_us(ch, p, n, self.thread(ch, p, n))):
                d = Draw(splitmix64(splitmix64(hp ^ j) ^ _RBODY))
                a, b = d.u64(), d.u64()
                if (a >> 50) & 1023 >= 123 and (b >> 54) & 1023 >= 31:
                    continue
                take(us, ("r", p, j))
        return files, reacts

    def _body(
        self,
        d: Draw,
        ch: Channel,
        us: int,
        user: str,
        text: str | None = None,
        generated: bool = True,
    ) -> dict[str, Any]:
        """A plain user message as Slack's clients post it.

        One 64-bit draw is cut into 10-bit fields for the yes/no choices (speed); its top 4
        bits make a quarter of generated texts questions (ending in "?").
        """
        a = d.u64()
        b = d.u64()
        if text is None:
            text = text_slice(b, text_length(((a & 0xFFFFF) + 1) / 1048576.0))
            if is_question_draw(a >> 60):  # 25%: the top 4 bits of a, unused above
                text = question(text, b >> 32)
            if (a >> 20) & 1023 < 82:  # 8%
                text = f"<@{ch.authors[(b >> 40) % len(ch.authors)]}> {text}"
        msg: dict[str, Any] = {
            "user": user,
            "type": "message",
            "ts": ts_str(us),
            "client_msg_id": hex_uuid(d.u64()),
            "text": text,
            "team": self.team_id,
        }
        if (a >> 30) & 1023 < 717:  # 70%
            msg["blocks"] = render.rich_text_blocks(text, f"{(b >> 8) & 0xFFFFF:05x}")
        if (a >> 40) & 1023 < 51 and us < HORIZON_US:  # 5%
            msg["edited"] = {"user": user, "ts": ts_str(us + (1 + (b >> 28) % 3600) * US)}
        if (a >> 50) & 1023 < 123 and generated:  # 12% (mutations: add_reaction only)
            msg["reactions"] = render.reactions(d, ch.authors)
        k = (b >> 54) & 1023
        if k < 31 and generated:  # 3% (never on messages posted by mutations)
            msg["files"] = render.files(
                d, user, self.team_id, self.domain, us // US, is_public=not ch.is_private
            )
            msg["upload"] = False
            msg["display_as_bot"] = False
        elif k < 62:  # 3%
            msg["attachments"] = render.attachments(d)
        return msg

    def _apply_edit(self, ch: Channel, us: int, msg: dict[str, Any]) -> dict[str, Any]:
        e = ch.edits.get(us)
        if e is not None:
            text, ets, editor = e
            msg["text"] = text
            if "blocks" in msg:
                msg["blocks"] = render.rich_text_blocks(text, msg["blocks"][0]["block_id"])
            msg["edited"] = {"user": editor, "ts": ets}
        return msg

    def _thread_fields(self, ch: Channel, us: int, ref: Ref, msg: dict[str, Any]) -> None:
        if not self.is_parent(ch, us, ref):
            return
        count, users, latest = self.thread_state(ch, us, ref)
        msg["thread_ts"] = msg["ts"]
        msg["reply_count"] = count
        msg["reply_users_count"] = len(users)
        msg["latest_reply"] = ts_str(latest) if latest is not None else EMPTY_TS
        msg["reply_users"] = users
        msg["is_locked"] = False
        msg["subscribed"] = False

    def _join(self, ch: Channel, us: int, user: str) -> dict[str, Any]:
        return {
            "user": user,
            "type": "message",
            "subtype": "channel_join",
            "ts": ts_str(us),
            "text": f"<@{user}> has joined the channel",
        }

    def _render_top(self, ch: Channel, i: int, us: int) -> dict[str, Any]:
        h = self.body_hash(ch, i)
        kind = self.top_kind(ch, i, h)
        if kind == "join":
            return self._join(ch, us, self.top_author(ch, i, h))
        d = Draw(h)
        if kind == "bot":
            msg = self._bot_message(d, ch, us)
        else:
            msg = self._body(d, ch, us, self.top_author(ch, i, h))
        if kind == "parent" or us in ch.thread_extra:  # the latter: replies from mutations
            self._thread_fields(ch, us, ("t", i), msg)
        return self._apply_edit(ch, us, msg) if ch.edits else msg

    def _bot_message(self, d: Draw, ch: Channel, us: int) -> dict[str, Any]:
        bot = d.pick(self.bots)
        text = text_slice(d.u64(), text_length(d.uniform()))
        msg: dict[str, Any] = {
            "type": "message",
            "subtype": "bot_message",
            "text": text,
            "ts": ts_str(us),
            "username": bot.name,
            "bot_id": bot.bot_id,
            "app_id": bot.app_id,
            "bot_profile": render.bot_profile(bot, self.team_id),
        }
        if d.chance(0.4):
            msg["attachments"] = render.attachments(d)
        if d.chance(0.05):
            msg["reactions"] = render.reactions(d, ch.authors)
        return msg

    def _root(self, ch: Channel, parent_us: int) -> dict[str, Any]:
        """The `root` object a thread broadcast carries: a summary of its parent."""
        ref = self.resolve(ch, parent_us)
        assert ref is not None
        parent = self.render(ch, parent_us, ref)
        root = {"type": "message", "text": parent.get("text", ""), "ts": parent["ts"]}
        for k in (
            "thread_ts",
            "reply_count",
            "reply_users_count",
            "latest_reply",
            "reply_users",
            "subscribed",
        ):
            if k in parent:
                root[k] = parent[k]
        return root

    def _reply_common(
        self, ch: Channel, msg: dict[str, Any], parent_us: int, parent_user: str, broadcast: bool
    ) -> None:
        msg["thread_ts"] = ts_str(parent_us)
        msg["parent_user_id"] = parent_user
        if broadcast:
            msg["subtype"] = "thread_broadcast"
            msg["root"] = self._root(ch, parent_us)

    def _render_reply(self, ch: Channel, p: int, j: int, us: int) -> dict[str, Any]:
        _, _, pool, parent_us, parent_user, hp = self.thread_ctx(ch, p)
        d = Draw(splitmix64(splitmix64(hp ^ j) ^ _RBODY))  # == mix_from(ch.hkey, p, j, _RBODY)
        msg = self._body(d, ch, us, self.reply_author(ch, p, j, pool))
        self._reply_common(ch, msg, parent_us, parent_user, (p, j) in ch.bc_pairs)
        return self._apply_edit(ch, us, msg) if ch.edits else msg

    def _render_extra(self, ch: Channel, rec: Extra) -> dict[str, Any]:
        if rec.subtype == "channel_join":
            return self._join(ch, rec.us, rec.user)
        if rec.subtype is not None:
            msg: dict[str, Any] = {
                "user": rec.user,
                "type": "message",
                "subtype": rec.subtype,
                "ts": ts_str(rec.us),
                "text": _SYSTEM_TEXT[rec.subtype].format(
                    user=rec.user, old=rec.old_name, new=rec.new_name
                ),
            }
            if rec.subtype == "channel_name":
                msg["old_name"] = rec.old_name
                msg["name"] = rec.new_name
            return msg
        d = Draw(mix_from(ch.hkey, rec.us, _BODY))
        msg = self._body(d, ch, rec.us, rec.user, rec.text, generated=False)
        if rec.parent_us is not None:
            pref = self.resolve(ch, rec.parent_us)
            assert pref is not None
            self._reply_common(ch, msg, rec.parent_us, self.author_of(ch, pref), rec.broadcast)
        else:
            self._thread_fields(ch, rec.us, ("x", rec.us), msg)
        return self._apply_edit(ch, rec.us, msg) if ch.edits else msg
