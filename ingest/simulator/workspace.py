"""The simulated workspace: generation, mutations (overlays) and ground truth."""

from __future__ import annotations

import contextlib
import itertools
import random
import threading
import time
from array import array
from bisect import insort
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from . import render
from .errors import SimulatorConfigError
from .generate import SIZES, _Ids, generate
from .hashing import mix
from .messages import MessageModel, Ref
from .model import HORIZON_US, US, Channel, Extra, User, UserGroup, parse_ts, ts_str
from .textgen import EMOJI_NAMES, text_length, text_slice

DEFAULT_TOKEN = "xoxb-sim-0-local-simulator-token"
MUTATION_OPS = (
    "post_message",
    "add_reply",
    "edit_message",
    "delete_message",
    "add_channel",
    "rename_channel",
    "archive_channel",
    "unarchive_channel",
    "add_member",
    "leave",
    "change_user",
    "add_user",
    "add_reaction",
    "remove_reaction",
)
USER_FIELDS = ("real_name", "display_name", "title", "first_name", "last_name")
_TITLES = ("Engineer", "Designer", "Product Manager", "Support", "Sales", "Data Scientist")
Event = dict[str, Any]
# files.list entries: (file, conversation, message ts, message ref, message live)
FileEntry = tuple[dict[str, Any], Channel, int, Ref, bool]
BREADTH_OPS_FRAC = 0.25  # share of mutate()'s ops that touch DMs or reactions
BROADCAST_PCT = 8  # percent of generated threads with one reply also sent to the channel


@dataclass(frozen=True)
class Truth:
    """What a perfect loader using the workspace's default token would load.

    `channel_names` (visible channel id -> current name), `archived` (visible archived
    channel ids), `user_names` (user id -> real_name), `edited` ((channel, ts) -> current
    text of every live edited message of a readable channel) and `deleted` (keys of
    readable channels' messages deleted since generation, replies of a deleted parent
    included) do not take part in equality.

    DMs: ims and mpims the bot is in count as channels (channel_ids, readable_channel_ids,
    members, messages); `dm_ids` / `group_dm_ids` name them; `channel_names` has no ims.
    `truth(full=True)` also fills `files`, `file_shares`, `usergroups`,
    `usergroup_members` and `reactions` (none take part in equality).
    """

    team_id: str
    channel_ids: frozenset[str]
    readable_channel_ids: frozenset[str]
    user_ids: frozenset[str]
    members: frozenset[tuple[str, str]]
    messages: frozenset[tuple[str, str]]
    n_replies: int = field(default=0, compare=False)
    channel_names: dict[str, str] = field(default_factory=dict, compare=False)
    archived: frozenset[str] = field(default=frozenset(), compare=False)
    user_names: dict[str, str] = field(default_factory=dict, compare=False)
    edited: dict[tuple[str, str], str] = field(default_factory=dict, compare=False)
    deleted: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)
    dm_ids: frozenset[str] = field(default=frozenset(), compare=False)
    group_dm_ids: frozenset[str] = field(default=frozenset(), compare=False)
    # full=True only:
    files: frozenset[str] = field(default=frozenset(), compare=False)
    file_shares: frozenset[tuple[str, str, str]] = field(default=frozenset(), compare=False)
    usergroups: frozenset[str] = field(default=frozenset(), compare=False)
    usergroup_members: frozenset[tuple[str, str]] = field(default=frozenset(), compare=False)
    reactions: frozenset[tuple[str, str, str, str]] = field(default=frozenset(), compare=False)

    def message_count(self) -> int:
        return len(self.messages)

    def reply_count(self) -> int:
        """Thread replies (broadcasts included, parents not) among `messages`."""
        return self.n_replies


class Workspace(MessageModel):
    """A deterministic Slack workspace; messages are derived on demand, mutations overlaid.

    All reads and writes of mutable state go through `self.lock` (an RLock), so a
    server thread can serve while another thread mutates.
    """

    def __init__(self, size: str, seed: int, token: str) -> None:
        if size not in SIZES:
            raise SimulatorConfigError(
                f"unknown workspace size {size!r}; expected one of {', '.join(SIZES)}"
            )
        g = generate(size, seed)
        self.size = size
        self.seed = seed
        self.token = token
        # a user token acting as human user 0 (not a real token shape either)
        self.user_token = "xoxp-sim-" + token.removeprefix("xoxb-sim-")
        self.team_id = g.team_id
        self.team_name = g.team_name
        self.domain = g.domain
        self.users: list[User] = g.users
        self.app_user: User = g.app_user
        self.bots = [u for u in g.users if u.is_bot and u is not g.app_user]
        self.channels: list[Channel] = g.channels
        self.dms: list[Channel] = g.dms  # ims then mpims (not in `channels`)
        self.usergroups: list[UserGroup] = g.usergroups
        self.channels_by_id = {ch.id: ch for ch in [*self.channels, *self.dms]}
        self.users_by_id = {u.id: u for u in self.users}
        self.lock = threading.RLock()
        self._tcache = {}
        self._ids = _Ids(seed + 1_000_003)
        self._last_us = HORIZON_US
        self._subs: list[Callable[[Event], None]] = []
        # generated files/reactions per Channel.idx (immutable: never invalidated)
        self._gidx: dict[int, tuple[list[tuple[int, Ref, list[Any]]], dict[int, list[Any]]]] = {}
        self._version = 0  # bumped by mutations that change what files.list lists
        self._fcache: dict[str | None, tuple[int, list[FileEntry]]] = {}  # viewer -> ...
        for ch in [*self.channels, *self.dms]:
            ch.hkey = mix(seed, ch.idx)
            self._make_broadcasts(ch)

    @classmethod
    def generate(
        cls, size: str = "tiny", seed: int = 0, *, token: str = DEFAULT_TOKEN
    ) -> Workspace:
        """Build the workspace for (size, seed); ValueError for an unknown size."""
        return cls(size, seed, token)

    def __repr__(self) -> str:
        return f"Workspace(size={self.size!r}, seed={self.seed}, team_id={self.team_id!r})"

    @property
    def bot_user_id(self) -> str:
        return self.app_user.id

    def _make_broadcasts(self, ch: Channel) -> None:
        pairs = []
        for p, n in zip(ch.parents, ch.nrep, strict=True):
            th = self.thread(ch, p, n)
            h = th[3]
            if (h >> 40) % 100 < BROADCAST_PCT:
                j = (h >> 48) % n
                pairs.append((self.reply_us(ch, p, j, th), p, j))
        pairs.sort()
        ch.bc_us = [t[0] for t in pairs]
        ch.bc_ref = [(t[1], t[2]) for t in pairs]
        ch.bc_pairs = set(ch.bc_ref)

    # ---------------------------------------------------------------- visibility
    def visible_channels(self) -> list[Channel]:
        """Channels conversations.list shows the bot: public ones and private ones it is in."""
        return [ch for ch in self.channels if not ch.is_private or ch.is_member]

    def channel(self, channel_id: str) -> Channel | None:
        """A channel, im or mpim by id."""
        return self.channels_by_id.get(channel_id)

    def conversations(self) -> list[Channel]:
        """Channels, then ims and mpims."""
        return [*self.channels, *self.dms]

    def visible_conversations(self, viewer: str | None = None) -> list[Channel]:
        """What conversations.list shows: for the bot (viewer None) visible_channels() plus
        the ims and mpims it is in; for a user (the user token) every public channel and
        the private channels, ims and mpims that user is in."""
        if viewer is None:
            return self.visible_channels() + [ch for ch in self.dms if ch.is_member]
        return [ch for ch in self.conversations() if self.can_see(ch, viewer)]

    @staticmethod
    def can_see(ch: Channel, viewer: str | None) -> bool:
        """Is ch visible to the bot (viewer None) or to user `viewer`?"""
        if viewer is None:
            return not ch.is_private or ch.is_member
        return not ch.is_private or viewer in ch.members

    @staticmethod
    def can_read(ch: Channel, viewer: str | None) -> bool:
        """Can the bot (viewer None) or user `viewer` read ch's history? Both must be
        members (a simplification for the user token: Slack lets it read any public
        channel; here it answers not_in_channel, as `is_member: false` announces)."""
        if viewer is None:
            return ch.is_member
        return viewer in ch.members

    @property
    def user_token_user(self) -> User:
        """The human the user token (`user_token`) acts as: user 0."""
        return self.users[0]

    # ---------------------------------------------------------------- truth
    def truth(self, *, full: bool = False, as_user: bool = False) -> Truth:
        """Ground truth for the default bot token (as_user: for `user_token`, human user 0);
        full=True adds files, user groups and reactions (slower: it walks the reactions of
        every readable message)."""
        viewer = self.user_token_user.id if as_user else None
        with self.lock:
            visible = self.visible_conversations(viewer)
            readable = [ch for ch in visible if self.can_read(ch, viewer)]
            parts: list[Iterable[tuple[str, str]]] = []
            n_replies = 0
            for ch in readable:
                tops, replies = self._channel_keys(ch)
                parts.append(zip(itertools.repeat(ch.id), tops))
                parts.append(zip(itertools.repeat(ch.id), replies))
                n_replies += len(replies)
            edited: dict[tuple[str, str], str] = {}
            deleted: set[tuple[str, str]] = set()
            for ch in readable:
                for us, (text, _, _) in ch.edits.items():
                    ref = self.resolve(ch, us)
                    if ref is not None and self.is_live(ch, us, ref):
                        edited[(ch.id, ts_str(us))] = text
                deleted.update((ch.id, ts_str(us)) for us in self._deleted_us(ch))
            return Truth(
                team_id=self.team_id,
                channel_ids=frozenset(ch.id for ch in visible),
                readable_channel_ids=frozenset(ch.id for ch in readable),
                user_ids=frozenset(u.id for u in self.users),
                members=frozenset((ch.id, m) for ch in readable for m in ch.members),
                messages=frozenset(itertools.chain.from_iterable(parts)),
                n_replies=n_replies,
                channel_names={ch.id: ch.name for ch in visible if not ch.is_im},
                archived=frozenset(ch.id for ch in visible if ch.is_archived),
                user_names={u.id: u.real_name for u in self.users},
                edited=edited,
                deleted=frozenset(deleted),
                dm_ids=frozenset(ch.id for ch in visible if ch.is_im),
                group_dm_ids=frozenset(ch.id for ch in visible if ch.is_mpim),
                **(self._full_truth(readable, viewer) if full else {}),
            )

    def _full_truth(self, readable: list[Channel], viewer: str | None) -> dict[str, Any]:
        """The full=True fields of Truth (lock held)."""
        entries = self.file_entries(viewer)
        shares = frozenset((f["id"], ch.id, ts_str(us)) for f, ch, us, _, live in entries if live)
        reactions: set[tuple[str, str, str, str]] = set()
        for ch in readable:
            for us, rs in self.live_reactions(ch):
                ts = ts_str(us)
                reactions.update((ch.id, ts, r["name"], u) for r in rs for u in r["users"])
        return {
            "files": frozenset(e[0]["id"] for e in entries),
            "file_shares": shares,
            "usergroups": frozenset(g.id for g in self.usergroups),
            "usergroup_members": frozenset((g.id, u) for g in self.usergroups for u in g.users),
            "reactions": frozenset(reactions),
        }

    # ---------------------------------------------------------------- files, reactions
    def generated_index(
        self, ch: Channel
    ) -> tuple[list[tuple[int, Ref, list[Any]]], dict[int, list[Any]]]:
        """Cached `scan_generated(ch)` (lock held)."""
        got = self._gidx.get(ch.idx)
        if got is None:
            got = self._gidx[ch.idx] = self.scan_generated(ch)
        return got

    def file_entries(self, viewer: str | None = None) -> list[FileEntry]:
        """Files visible to the bot (or user `viewer`), newest first: (file, conversation,
        message ts, ref, message live). Every file of a generated message in a
        conversation the token can read, its message deleted or not (mutations post no
        files). Cached until the next mutation (lock held)."""
        got = self._fcache.get(viewer)
        if got is not None and got[0] == self._version:
            return got[1]
        out: list[FileEntry] = []
        for ch in self.conversations():
            if not self.can_read(ch, viewer):
                continue
            for us, ref, files in self.generated_index(ch)[0]:
                live = self.is_live(ch, us, ref)
                out.extend((f, ch, us, ref, live) for f in files)
        out.sort(key=lambda e: (-e[0]["created"], -e[2], e[0]["id"]))
        self._fcache[viewer] = (self._version, out)
        return out

    def file_share(self, ch: Channel, us: int, ref: Ref) -> dict[str, Any]:
        """The shares.<public|private>.<channel>[0] entry of a file of message (ch, us)."""
        share: dict[str, Any] = {
            "reply_users": [],
            "reply_users_count": 0,
            "reply_count": 0,
            "ts": ts_str(us),
            "channel_name": ch.dm_user if ch.is_im else ch.name,
            "team_id": self.team_id,
            "share_user_id": self.author_of(ch, ref),
        }
        parent = self.parent_of(ch, ref)
        if parent is not None:
            share["thread_ts"] = ts_str(parent)
        elif self.is_parent(ch, us, ref):
            count, users, latest = self.thread_state(ch, us, ref)
            share.update(reply_users=users, reply_users_count=len(users), reply_count=count)
            share["thread_ts"] = ts_str(us)
            share["latest_reply"] = ts_str(latest) if latest is not None else "0000000000.000000"
        return share

    def live_reactions(self, ch: Channel) -> Iterator[tuple[int, list[dict[str, Any]]]]:
        """(ts, reactions as served) of every live message of ch that has some (lock held)."""
        base = self.generated_index(ch)[1]
        react = ch.react
        for us, rs in base.items():
            if us in react:
                continue
            ref = self.resolve(ch, us)
            if ref is not None and self.is_live(ch, us, ref):
                yield us, rs
        # messages posted by mutations have no reactions but those of add_reaction
        for us, pairs in react.items():
            ref = self.resolve(ch, us)
            if pairs and ref is not None and self.is_live(ch, us, ref):
                yield us, [{"name": n, "users": list(u), "count": len(u)} for n, u in pairs]

    def _deleted_us(self, ch: Channel) -> set[int]:
        """ts of ch's deleted messages, replies of deleted parents included (lock held)."""
        out: set[int] = set()
        for us in ch.deleted:
            ref = self.resolve(ch, us)
            if ref is None:
                continue
            out.add(us)
            n = self.gen_thread_n(ch, ref)
            if n:
                out.update(self.all_reply_us(ch, ref[1], n, self.thread(ch, ref[1], n)))
            out.update(ch.thread_extra.get(us, ()))
        return out

    def iter_message_keys(self) -> Iterator[tuple[str, str]]:
        """(channel_id, ts) of truth().messages, lazily (one channel at a time under the lock)."""
        for ch in self.conversations():
            with self.lock:
                if not ch.is_member:
                    continue
                tops, replies = self._channel_keys(ch)
            cid = ch.id
            for ts in itertools.chain(tops, replies):
                yield cid, ts

    def _channel_keys(self, ch: Channel) -> tuple[list[str], list[str]]:
        """ts of every live (top-level/join/broadcast-free, reply) message. Caller holds the lock."""
        deleted = ch.deleted
        tops = self.all_top_us(ch)
        replies: list[int] = []
        for p, n in zip(ch.parents, ch.nrep, strict=True):
            if deleted and tops[p] in deleted:
                continue
            replies += self.all_reply_us(ch, p, n, self.thread(ch, p, n))
        for us, rec in ch.extra.items():
            (tops if rec.parent_us is None else replies).append(us)
        if deleted:
            tops = [us for us in tops if us not in deleted]
            replies = [
                us
                for us in replies
                if us not in deleted and not (us in ch.extra and ch.extra[us].parent_us in deleted)
            ]
        return [ts_str(us) for us in tops], [ts_str(us) for us in replies]

    # ---------------------------------------------------------------- reading
    def message(self, channel_id: str, ts: str) -> dict[str, Any] | None:
        """The message as served now, or None if unknown or deleted."""
        with self.lock:
            ch = self.channels_by_id.get(channel_id)
            us = parse_ts(ts)
            if ch is None or us is None:
                return None
            ref = self.resolve(ch, us)
            if ref is None or not self.is_live(ch, us, ref):
                return None
            return self.render(ch, us, ref)

    # ---------------------------------------------------------------- mutations
    def _now_us(self) -> int:
        """Wall-clock now, strictly increasing and above every generated ts."""
        us = max(int(time.time() * US), self._last_us + 1)
        self._last_us = us
        return us

    def _require(self, channel_id: str) -> Channel:
        ch = self.channels_by_id.get(channel_id)
        if ch is None:
            raise ValueError(f"channel_not_found: {channel_id}")
        self._version += 1
        return ch

    def _require_channel(self, channel_id: str) -> Channel:
        """_require, refusing ims and mpims (no renames, archives, joins or leaves)."""
        ch = self._require(channel_id)
        if ch.is_dm:
            raise ValueError(f"method_not_supported_for_channel_type: {channel_id}")
        return ch

    def _live_ref(self, ch: Channel, ts: str) -> tuple[int, Ref]:
        us = parse_ts(ts)
        ref = self.resolve(ch, us) if us is not None else None
        if us is None or ref is None or not self.is_live(ch, us, ref):
            raise ValueError(f"message_not_found: {ch.id} {ts}")
        return us, ref

    def _gen_text(self, salt: int) -> str:
        h = mix(self.seed, salt, 0x7E47)
        return text_slice(h, text_length(((h >> 11) + 1) / 9007199254740992.0))

    # ---------------------------------------------------------------- events
    def subscribe(self, callback: Callable[[Event], None]) -> Callable[[], None]:
        """Call `callback(event)` for every Events API event a mutation produces; returns
        an unsubscribe function.

        Events are filtered as Slack filters them for the app: message events and
        member_* / group_* events only for conversations the bot is a member of;
        public channel_* events, user_change and team_join always. Callbacks run
        synchronously in the mutating thread *while the workspace lock is held* (so the
        order they see is the mutation order); they must be quick and must not block.
        """
        with self.lock:
            self._subs.append(callback)

        def unsubscribe() -> None:
            with self.lock, contextlib.suppress(ValueError):
                self._subs.remove(callback)

        return unsubscribe

    def _wants(self, ch: Channel | None = None) -> bool:
        """Would an event about ch (None: a workspace-wide event) reach a subscriber?"""
        return bool(self._subs) and (ch is None or ch.is_member)

    def _emit(self, event: Event, ch: Channel | None = None) -> None:
        """Publish one event (lock held); ch: deliver only if the bot is a member of ch."""
        if not self._wants(ch):
            return
        for cb in list(self._subs):
            cb(event)

    @staticmethod
    def _ctype(ch: Channel) -> str:
        if ch.is_im:
            return "im"
        if ch.is_mpim:
            return "mpim"
        return "group" if ch.is_private else "channel"

    def _render_us(self, ch: Channel, us: int) -> dict[str, Any]:
        ref = self.resolve(ch, us)
        assert ref is not None
        return self.render(ch, us, ref)

    def _emit_message(self, ch: Channel, us: int) -> None:
        """The message event of a new message (top-level, reply, broadcast, system)."""
        if self._wants(ch):
            m = self._render_us(ch, us)
            ev = {**m, "channel": ch.id, "channel_type": self._ctype(ch), "event_ts": m["ts"]}
            self._emit(ev, ch)

    def _emit_changed(
        self, ch: Channel, new: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        if previous is None or not self._wants(ch):
            return
        now = ts_str(self._now_us())
        self._emit(
            {
                "type": "message",
                "subtype": "message_changed",
                "hidden": True,
                "channel": ch.id,
                "channel_type": self._ctype(ch),
                "ts": now,
                "event_ts": now,
                "message": new,
                "previous_message": previous,
            },
            ch,
        )

    def _event_ts(self) -> str:
        return ts_str(self._now_us()) if self._subs else ts_str(int(time.time() * US))

    def post_message(
        self,
        channel_id: str,
        text: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
        age_s: float | None = None,
    ) -> str:
        """Post a top-level message (or a reply when thread_ts is given); returns its ts.

        age_s backdates a top-level message that many seconds before now (its ts must
        still be above every generated ts: ValueError otherwise).
        """
        if thread_ts is not None:
            if age_s is not None:
                raise ValueError("age_s applies to top-level messages only")
            return self.add_reply(channel_id, thread_ts, text, user=user)
        with self.lock:
            ch = self._require(channel_id)
            us = -1
            if age_s is not None:
                if age_s < 0:
                    raise ValueError(f"age_s must be >= 0, got {age_s!r}")
                us = int(time.time() * US) - int(age_s * US)
                while us in ch.extra:
                    us -= 1
                if us <= HORIZON_US:
                    raise ValueError(
                        f"age_s={age_s!r} reaches into the generated history "
                        f"(ts must be above {ts_str(HORIZON_US)})"
                    )
            if us < 0 or us >= self._last_us:
                us = self._now_us()
            author = user or ch.authors[us % len(ch.authors)]
            ch.extra[us] = Extra(us, author, text if text is not None else self._gen_text(us))
            insort(ch.extra_hist, us)  # a plain append unless backdated
            self._emit_message(ch, us)
            return ts_str(us)

    def add_reply(
        self,
        channel_id: str,
        thread_ts: str,
        text: str | None = None,
        broadcast: bool = False,
        *,
        user: str | None = None,
    ) -> str:
        """Reply in the thread of thread_ts (a reply's ts means its thread); returns the new ts.

        Works on old threads and on messages without replies yet (they become parents).
        """
        with self.lock:
            ch = self._require(channel_id)
            pus, ref = self._live_ref(ch, thread_ts)
            parent = self.parent_of(ch, ref)
            if parent is not None:
                pus = parent
                ref = self.resolve(ch, pus)  # type: ignore[assignment]
            if self.is_join(ch, ref):
                kind = ch.extra[pus].subtype if ref[0] == "x" else "channel_join"
                raise ValueError(f"cannot_reply_to_message: {thread_ts} is a {kind} message")
            before = self.render(ch, pus, ref) if self._wants(ch) else None
            us = self._now_us()
            author = user or ch.authors[us % len(ch.authors)]
            ch.extra[us] = Extra(
                us, author, text if text is not None else self._gen_text(us), pus, broadcast
            )
            ch.thread_extra.setdefault(pus, []).append(us)
            if broadcast:
                ch.extra_hist.append(us)
            self._emit_message(ch, us)
            if before is not None:
                self._emit_changed(ch, self.render(ch, pus, ref), before)
            return ts_str(us)

    def edit_message(self, channel_id: str, ts: str, text: str) -> None:
        """Change a message's text; it then carries edited={user, ts}."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            before = self.render(ch, us, ref) if self._wants(ch) else None
            ch.edits[us] = (text, ts_str(self._now_us()), self.author_of(ch, ref))
            if before is not None:
                self._emit_changed(ch, self.render(ch, us, ref), before)

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete a message; deleting a thread parent deletes its whole thread."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            wants = self._wants(ch)
            before = self.render(ch, us, ref) if wants else None
            parent = self.parent_of(ch, ref)
            pref = self.resolve(ch, parent) if parent is not None else None
            pbefore = self.render(ch, parent, pref) if wants and parent and pref else None
            ch.deleted.add(us)
            if parent is not None:
                ch.dirty_threads.add(parent)
            if before is not None:
                now = ts_str(self._now_us())
                self._emit(
                    {
                        "type": "message",
                        "subtype": "message_deleted",
                        "hidden": True,
                        "channel": ch.id,
                        "channel_type": self._ctype(ch),
                        "ts": now,
                        "deleted_ts": ts_str(us),
                        "event_ts": now,
                        "previous_message": before,
                    },
                    ch,
                )
            if pbefore is not None and parent is not None and pref is not None:
                self._emit_changed(ch, self.render(ch, parent, pref), pbefore)

    def _reactions_now(self, ch: Channel, us: int, ref: Ref) -> list[tuple[str, list[str]]]:
        cur = ch.react.get(us)
        if cur is None:
            m = self._render_base(ch, us, ref)
            cur = [(r["name"], list(r["users"])) for r in m.get("reactions", ())]
        return cur

    def add_reaction(self, channel_id: str, ts: str, name: str, user: str) -> None:
        """user reacts with :name: to a live message (reaction_added event)."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            if not name or not isinstance(name, str):
                raise ValueError(f"invalid_name: {name!r}")
            if user not in self.users_by_id:
                raise ValueError(f"user_not_found: {user}")
            cur = self._reactions_now(ch, us, ref)
            for n, users in cur:
                if n == name:
                    if user in users:
                        raise ValueError(f"already_reacted: {user} :{name}: on {ts}")
                    users.append(user)
                    break
            else:
                cur.append((name, [user]))
            ch.react[us] = cur
            self._reaction_event(ch, us, ref, "reaction_added", name, user)

    def remove_reaction(self, channel_id: str, ts: str, name: str, user: str) -> None:
        """user takes back :name: (the entry goes when its last user does;
        reaction_removed event)."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            cur = self._reactions_now(ch, us, ref)
            for k, (n, users) in enumerate(cur):
                if n == name and user in users:
                    users.remove(user)
                    if not users:
                        del cur[k]
                    break
            else:
                raise ValueError(f"no_reaction: {user} :{name}: on {ts}")
            ch.react[us] = cur
            self._reaction_event(ch, us, ref, "reaction_removed", name, user)

    def _is_live_us(self, ch: Channel, us: int) -> bool:
        ref = self.resolve(ch, us)
        return ref is not None and self.is_live(ch, us, ref)

    def _reaction_event(
        self, ch: Channel, us: int, ref: Ref, kind: str, name: str, user: str
    ) -> None:
        if not self._wants(ch):
            return
        self._emit(
            {
                "type": kind,
                "user": user,
                "reaction": name,
                "item": {"type": "message", "channel": ch.id, "ts": ts_str(us)},
                "item_user": self.author_of(ch, ref),
                "event_ts": self._event_ts(),
            },
            ch,
        )

    def _random_reaction(self, ch: Channel, rng: random.Random, remove: bool) -> bool:
        """Add (or remove) a random reaction in ch; False when there is nothing to do."""
        if remove:  # probe random messages (no scan of the channel), then the overlay
            found: tuple[int, list[tuple[str, list[str]]]] | None = None
            for _ in range(20):
                m = self._pick_message(ch, rng, parents_ok=True)
                ref_m = self.resolve(ch, m) if m is not None else None
                if m is None or ref_m is None:
                    break
                now = self._reactions_now(ch, m, ref_m)
                if now:
                    found = (m, now)
                    break
            if found is None:
                cands = sorted(us for us, pairs in ch.react.items() if pairs)
                cands = [us for us in cands if self._is_live_us(ch, us)]
                if not cands:
                    return False
                us = rng.choice(cands)
                found = (us, ch.react[us])
            us, now = found
            name, users = rng.choice(now)
            self.remove_reaction(ch.id, ts_str(us), name, rng.choice(users))
            return True
        m = self._pick_message(ch, rng, parents_ok=True)
        if m is None or not ch.authors:
            return False
        ref = self.resolve(ch, m)
        assert ref is not None
        taken = {(n, u) for n, us_ in self._reactions_now(ch, m, ref) for u in us_}
        for _ in range(10):
            name, user = rng.choice(EMOJI_NAMES), rng.choice(ch.authors)
            if (name, user) not in taken:
                self.add_reaction(ch.id, ts_str(m), name, user)
                return True
        return False

    def add_channel(self, name: str, *, is_private: bool = False, is_member: bool = True) -> str:
        """Create an empty channel; returns its id (channel_created event if public)."""
        with self.lock:
            if any(c.name == name for c in self.channels):
                raise ValueError(f"name_taken: {name}")
            k = len(self.channels)
            humans = [u.id for u in self.users if not u.is_bot and not u.deleted]
            creator = humans[mix(self.seed, k) % len(humans)]
            members = [creator] + ([self.app_user.id] if is_member else [])
            now_s = self._now_us() // US
            cid = self._ids.make("C", 6, k)
            while cid in self.channels_by_id:
                cid = self._ids.make("C", 6, k)
            ch = Channel(
                idx=k,
                id=cid,
                name=name,
                is_private=is_private,
                is_archived=False,
                is_general=False,
                is_member=is_member,
                created=now_s,
                creator=creator,
                members=members,
                authors=[creator],
                n_top=0,
                start=now_s,
                gap=2,
                parents=array("q"),
                nrep=array("l"),
            )
            ch.hkey = mix(self.seed, k)
            self.channels.append(ch)
            self.channels_by_id[ch.id] = ch
            if not is_private:
                self._emit(
                    {
                        "type": "channel_created",
                        "channel": {
                            "id": ch.id,
                            "name": name,
                            "created": now_s,
                            "creator": creator,
                        },
                        "event_ts": self._event_ts(),
                    }
                )
            return ch.id

    def _system_message(
        self, ch: Channel, user: str, subtype: str, old_name: str = "", new_name: str = ""
    ) -> int:
        us = self._now_us()
        ch.extra[us] = Extra(us, user, "", subtype=subtype, old_name=old_name, new_name=new_name)
        ch.extra_hist.append(us)
        self._emit_message(ch, us)
        return us

    def _member_event(self, ch: Channel, user_id: str, kind: str) -> None:
        self._emit(
            {
                "type": kind,
                "user": user_id,
                "channel": ch.id,
                "channel_type": "G" if ch.is_private else "C",
                "team": self.team_id,
                "event_ts": self._event_ts(),
            },
            ch,
        )

    def _channel_event(self, ch: Channel, kind: str, **fields: Any) -> None:
        """channel_<kind> (public: always delivered) or group_<kind> (private: members)."""
        if ch.is_private:
            self._emit({"type": f"group_{kind}", **fields, "event_ts": self._event_ts()}, ch)
        else:
            self._emit({"type": f"channel_{kind}", **fields, "event_ts": self._event_ts()})

    def leave(self, channel_id: str, user_id: str) -> None:
        """A member leaves the channel: conversations.members stops listing them and the
        channel gets a channel_leave message, as in Slack. The bot leaving stops being a
        member (the channel is no longer readable)."""
        with self.lock:
            ch = self._require_channel(channel_id)
            if user_id not in ch.members:
                raise ValueError(f"not_in_channel: {user_id}")
            ch.members.remove(user_id)
            self._system_message(ch, user_id, "channel_leave")
            self._member_event(ch, user_id, "member_left_channel")
            if user_id == self.app_user.id:
                ch.is_member = False

    def join(self, channel_id: str) -> Channel:
        """The bot joins a public channel (conversations.join): member + a channel_join message."""
        with self.lock:
            ch = self._require_channel(channel_id)
            if not ch.is_member:
                ch.is_member = True
                ch.members.append(self.app_user.id)
                self._system_message(ch, self.app_user.id, "channel_join")
                self._member_event(ch, self.app_user.id, "member_joined_channel")
            return ch

    def add_member(self, channel_id: str, user_id: str) -> None:
        """A user joins the channel: listed by conversations.members, channel_join message."""
        with self.lock:
            ch = self._require_channel(channel_id)
            u = self.users_by_id.get(user_id)
            if u is None:
                raise ValueError(f"user_not_found: {user_id}")
            if u.deleted:
                raise ValueError(f"user_is_deleted: {user_id}")
            if user_id in ch.members:
                raise ValueError(f"already_in_channel: {user_id}")
            if ch.is_archived:
                raise ValueError(f"is_archived: {channel_id}")
            if user_id == self.app_user.id:
                self.join(channel_id)
                return
            ch.members.append(user_id)
            self._system_message(ch, user_id, "channel_join")
            self._member_event(ch, user_id, "member_joined_channel")

    def rename_channel(self, channel_id: str, name: str, *, user: str | None = None) -> None:
        """Rename (channel_name message, channel_rename / group_rename event)."""
        with self.lock:
            ch = self._require_channel(channel_id)
            if not name or any(c.name == name for c in self.channels if c is not ch):
                raise ValueError(f"name_taken: {name!r}")
            if name == ch.name:
                return
            old = ch.name
            ch.previous_names.insert(0, old)
            ch.name = name
            self._system_message(ch, user or ch.creator, "channel_name", old, name)
            self._channel_event(
                ch, "rename", channel={"id": ch.id, "name": name, "created": ch.created}
            )

    def archive_channel(self, channel_id: str, *, user: str | None = None) -> None:
        """Archive (channel_archive message, channel_archive / group_archive event)."""
        with self.lock:
            ch = self._require_channel(channel_id)
            if ch.is_archived:
                raise ValueError(f"already_archived: {channel_id}")
            if ch.is_general:
                raise ValueError(f"cant_archive_general: {channel_id}")
            uid = user or ch.creator
            ch.is_archived = True
            self._system_message(ch, uid, "channel_archive")
            self._channel_event(ch, "archive", channel=ch.id, user=uid)

    def unarchive_channel(self, channel_id: str, *, user: str | None = None) -> None:
        """Unarchive (channel_unarchive message, channel_unarchive / group_unarchive event)."""
        with self.lock:
            ch = self._require_channel(channel_id)
            if not ch.is_archived:
                raise ValueError(f"not_archived: {channel_id}")
            uid = user or ch.creator
            ch.is_archived = False
            self._system_message(ch, uid, "channel_unarchive")
            self._channel_event(ch, "unarchive", channel=ch.id, user=uid)

    def change_user(self, user_id: str, **fields: str) -> None:
        """Change profile fields (USER_FIELDS: real_name, display_name, title, first_name,
        last_name); users.list/users.info show them; a user_change event follows."""
        with self.lock:
            u = self.users_by_id.get(user_id)
            if u is None:
                raise ValueError(f"user_not_found: {user_id}")
            bad = [k for k in fields if k not in USER_FIELDS]
            if bad or not fields:
                raise ValueError(f"unknown user field(s) {bad}; expected {', '.join(USER_FIELDS)}")
            for k, v in fields.items():
                if not isinstance(v, str):
                    raise ValueError(f"{k} must be a string")
                if k == "real_name":
                    u.real_name_override = v
                elif k == "display_name":
                    u.display_name_override = v
                else:
                    setattr(u, k, v)
            u.updated = self._now_us() // US
            self._emit(
                {
                    "type": "user_change",
                    "user": render.user_obj(u, self.team_id),
                    "cache_ts": u.updated,
                    "event_ts": self._event_ts(),
                }
            )

    def add_user(self, name: str, *, real_name: str | None = None) -> str:
        """A new human user (users.list lists it; team_join event); returns its id."""
        with self.lock:
            if not name or any(u.name == name for u in self.users):
                raise ValueError(f"name_taken: {name!r}")
            k = len(self.users)
            uid = self._ids.make("U", 7, k)
            while uid in self.users_by_id:
                uid = self._ids.make("U", 7, k)
            parts = [p for p in name.replace("_", ".").split(".") if p] or [name]
            u = User(
                idx=k,
                id=uid,
                name=name,
                first_name=parts[0].capitalize(),
                last_name=" ".join(p.capitalize() for p in parts[1:]),
                updated=self._now_us() // US,
                real_name_override=real_name,
            )
            self.users.append(u)
            self.users_by_id[uid] = u
            self._emit(
                {
                    "type": "team_join",
                    "user": render.user_obj(u, self.team_id),
                    "event_ts": self._event_ts(),
                }
            )
            return uid

    def mutate(
        self,
        rng_seed: int,
        n: int = 20,
        *,
        old_thread_window_s: float | None = None,
        any_age: bool = False,
    ) -> dict[str, int]:
        """Apply n random mutations (deterministic choices for rng_seed); returns counts per op.

        Replies go to existing threads. With old_thread_window_s, only threads whose parent
        is at most that many seconds older than the channel's newest message qualify
        (falling back to a plain message in that window, which then becomes a thread).

        any_age=True draws from every op (MUTATION_OPS): replies to threads of any age,
        edits and deletes of old messages and old replies, channel renames, archives,
        unarchives, members joining and leaving (never the bot), user changes, new users
        and channels. old_thread_window_s still bounds the replies if given.

        Either way about a quarter of the ops (BREADTH_OPS_FRAC) are posts, replies,
        edits and deletes in ims and mpims (humans-only ones included) and reactions
        added and removed anywhere the bot is a member.
        """
        rng = random.Random(mix(self.seed, rng_seed, 0x3D7A7E))
        # DM and reaction ops draw from their own rng: the channel ops keep the sequence
        # they had before DMs existed (a prefix of it, as these take some of the n turns)
        brng = random.Random(mix(self.seed, rng_seed, 0xB8EAD7))
        counts = dict.fromkeys(MUTATION_OPS, 0)
        with self.lock:
            for _ in range(n):
                if brng.random() < BREADTH_OPS_FRAC:
                    counts[self._mutate_breadth(brng, old_thread_window_s)] += 1
                    continue
                if any_age:
                    counts[self._mutate_any(rng, old_thread_window_s)] += 1
                    continue
                live = [c for c in self.channels if c.is_member and not c.is_archived]
                ch = rng.choice(live)
                r = rng.random()
                if r < 0.97 and not ch.authors:
                    r = 0.99
                if r < 0.35:
                    self.post_message(ch.id)
                    counts["post_message"] += 1
                elif r < 0.70:
                    target = self._pick_thread(ch, rng, old_thread_window_s)
                    if target is None:
                        self.post_message(ch.id)
                        counts["post_message"] += 1
                    else:
                        self.add_reply(ch.id, ts_str(target), broadcast=rng.random() < 0.05)
                        counts["add_reply"] += 1
                elif r < 0.97:
                    edit = r < 0.85
                    m = self._pick_message(ch, rng, parents_ok=edit)
                    if m is None:  # an empty channel: post instead
                        self.post_message(ch.id)
                        counts["post_message"] += 1
                    elif edit:
                        self.edit_message(ch.id, ts_str(m), self._gen_text(rng.getrandbits(48)))
                        counts["edit_message"] += 1
                    else:
                        self.delete_message(ch.id, ts_str(m))
                        counts["delete_message"] += 1
                else:
                    self.add_channel(
                        f"new-channel-{len(self.channels)}", is_private=rng.random() < 0.2
                    )
                    counts["add_channel"] += 1
        return counts

    def _mutate_any(self, rng: random.Random, window_s: float | None) -> str:
        """One mutation of the any_age mix (lock held); returns the op applied."""
        live = [c for c in self.channels if c.is_member and not c.is_archived]
        ch = rng.choice(live)
        r = rng.random()
        if not ch.authors and r < 0.70:
            r = 0.99
        if r < 0.22:
            self.post_message(ch.id)
            return "post_message"
        if r < 0.42:
            target = self._pick_thread(ch, rng, window_s)
            if target is not None:
                self.add_reply(ch.id, ts_str(target), broadcast=rng.random() < 0.05)
                return "add_reply"
        elif r < 0.70:
            edit = r < 0.57
            m = self._pick_message(ch, rng, parents_ok=edit or rng.random() < 0.2, reply_pct=0.5)
            if m is not None and edit:
                self.edit_message(ch.id, ts_str(m), self._gen_text(rng.getrandbits(48)))
                return "edit_message"
            if m is not None:
                self.delete_message(ch.id, ts_str(m))
                return "delete_message"
        elif r < 0.74:
            base = ch.name.split("--")[0]
            k = 1
            taken = {c.name for c in self.channels}
            while f"{base}--{k}" in taken:
                k += 1
            self.rename_channel(ch.id, f"{base}--{k}")
            return "rename_channel"
        elif r < 0.77:
            if len(live) > 3 and not ch.is_general:
                self.archive_channel(ch.id)
                return "archive_channel"
        elif r < 0.80:
            archived = [c for c in self.channels if c.is_member and c.is_archived]
            if archived:
                self.unarchive_channel(rng.choice(archived).id)
                return "unarchive_channel"
        elif r < 0.85:
            outside = [
                u.id
                for u in self.users
                if not u.is_bot and not u.deleted and u.id not in ch.members
            ]
            if outside:
                self.add_member(ch.id, rng.choice(outside))
                return "add_member"
        elif r < 0.89:
            inside = [
                m for m in ch.members if m != self.app_user.id and not self.users_by_id[m].is_bot
            ]
            if len(inside) > 1:
                self.leave(ch.id, rng.choice(inside))
                return "leave"
        elif r < 0.94:
            humans = [u for u in self.users if not u.is_bot and not u.deleted]
            u = rng.choice(humans)
            which = rng.choice(("real_name", "display_name", "title"))
            k = rng.randrange(1000)
            value = {
                "real_name": f"{u.first_name} {u.last_name} {k}",
                "display_name": f"{u.name.split('.')[0]}{k}",
                "title": f"{rng.choice(_TITLES)} {k}",
            }[which]
            self.change_user(u.id, **{which: value})
            return "change_user"
        elif r < 0.97:
            k = len(self.users)
            while any(u.name == f"new.user{k}" for u in self.users):
                k += 1
            self.add_user(f"new.user{k}")
            return "add_user"
        else:
            self.add_channel(f"new-channel-{len(self.channels)}", is_private=rng.random() < 0.2)
            return "add_channel"
        self.post_message(ch.id)  # the chosen op had no target
        return "post_message"

    def _mutate_breadth(self, rng: random.Random, window_s: float | None) -> str:
        """One DM message op or reaction op (lock held); returns the op applied."""
        r = rng.random()
        if r < 0.45 and self.dms:
            ch = rng.choice(self.dms)
            r = rng.random()
            if 0.35 <= r < 0.65:
                target = self._pick_thread(ch, rng, window_s)
                if target is not None:
                    self.add_reply(ch.id, ts_str(target), broadcast=rng.random() < 0.05)
                    return "add_reply"
            elif r >= 0.65:
                m = self._pick_message(ch, rng, parents_ok=r < 0.85)
                if m is not None and r < 0.85:
                    self.edit_message(ch.id, ts_str(m), self._gen_text(rng.getrandbits(48)))
                    return "edit_message"
                if m is not None:
                    self.delete_message(ch.id, ts_str(m))
                    return "delete_message"
            self.post_message(ch.id)
            return "post_message"
        live = [c for c in self.conversations() if c.is_member and c.authors and not c.is_archived]
        ch = rng.choice(live)
        if r >= 0.8 and self._random_reaction(ch, rng, remove=True):
            return "remove_reaction"
        if self._random_reaction(ch, rng, remove=False):
            return "add_reaction"
        self.post_message(ch.id)
        return "post_message"

    def _newest_us(self, ch: Channel) -> int:
        newest = self.top_us(ch, ch.n_top - 1) if ch.n_top else 0
        if ch.extra:
            newest = max(newest, max(ch.extra))
        return newest

    def _pick_thread(self, ch: Channel, rng: random.Random, window_s: float | None) -> int | None:
        lo = self._newest_us(ch) - int(window_s * US) if window_s is not None else -1
        cands = [self.top_us(ch, p) for p in ch.parents]
        cands += [us for us in ch.thread_extra if us not in ch.deleted]
        cands = [us for us in cands if us >= lo and us not in ch.deleted]
        if cands:
            return rng.choice(cands)
        # no thread in the window: start one on a recent plain message
        recent = itertools.islice(self.iter_history(ch, 1 << 62, lo), 200)
        plain = [
            (us, ref)
            for us, ref in recent
            if not self.is_join(ch, ref) and self.parent_of(ch, ref) is None
        ]
        return rng.choice(plain)[0] if plain else None

    def _pick_message(
        self, ch: Channel, rng: random.Random, parents_ok: bool = False, reply_pct: float = 0.3
    ) -> int | None:
        """A random live message (top-level or reply), not a join message (nor a parent)."""
        for _ in range(20):
            if ch.parents and rng.random() < reply_pct:
                k = rng.randrange(len(ch.parents))
                p, nn = ch.parents[k], ch.nrep[k]
                ref: Ref = ("r", p, rng.randrange(nn))
            elif ch.n_top and (not ch.extra or rng.random() < 0.8):
                ref = ("t", rng.randrange(ch.n_top))
            elif ch.extra:
                ref = ("x", rng.choice(list(ch.extra)))
            else:
                return None
            us = self.ref_us(ch, ref)
            if not self.is_live(ch, us, ref) or self.is_join(ch, ref):
                continue
            if parents_ok or not self.is_parent(ch, us, ref):
                return us
        return None

    # ---------------------------------------------------------------- summary
    def summary(self) -> dict[str, Any]:
        """Counts of generated objects (cheap; no message iteration)."""
        with self.lock:
            n_top = sum(ch.n_top for ch in self.channels)
            n_rep = sum(sum(ch.nrep) for ch in self.channels)
            return {
                "size": self.size,
                "seed": self.seed,
                "team_id": self.team_id,
                "users": len(self.users),
                "channels": len(self.channels),
                "ims": sum(ch.is_im for ch in self.dms),
                "mpims": sum(ch.is_mpim for ch in self.dms),
                "usergroups": len(self.usergroups),
                "top_level_messages": n_top,
                "replies": n_rep,
                "messages": n_top + n_rep + sum(len(ch.extra) for ch in self.channels),
                "threads": sum(len(ch.parents) for ch in self.channels),
                "max_thread_replies": max(
                    (max(ch.nrep) for ch in self.channels if ch.nrep), default=0
                ),
            }
