"""The simulated workspace: generation, mutations (overlays) and ground truth."""

from __future__ import annotations

import itertools
import random
import threading
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .errors import SimulatorConfigError
from .generate import SIZES, _Ids, generate
from .hashing import mix
from .messages import MessageModel, Ref
from .model import HORIZON_US, US, Channel, Extra, User, parse_ts, ts_str
from .textgen import text_length, text_slice

DEFAULT_TOKEN = "xoxb-sim-0-local-simulator-token"
MUTATION_OPS = ("post_message", "add_reply", "edit_message", "delete_message", "add_channel")
BROADCAST_PCT = 8  # percent of generated threads with one reply also sent to the channel


@dataclass(frozen=True)
class Truth:
    """What a perfect loader using the workspace's default token would load."""

    team_id: str
    channel_ids: frozenset[str]
    readable_channel_ids: frozenset[str]
    user_ids: frozenset[str]
    members: frozenset[tuple[str, str]]
    messages: frozenset[tuple[str, str]]
    n_replies: int = field(default=0, compare=False)

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
        self.team_id = g.team_id
        self.team_name = g.team_name
        self.domain = g.domain
        self.users: list[User] = g.users
        self.app_user: User = g.app_user
        self.bots = [u for u in g.users if u.is_bot and u is not g.app_user]
        self.channels: list[Channel] = g.channels
        self.channels_by_id = {ch.id: ch for ch in self.channels}
        self.users_by_id = {u.id: u for u in self.users}
        self.lock = threading.RLock()
        self._tcache = {}
        self._ids = _Ids(seed + 1_000_003)
        self._last_us = HORIZON_US
        for ch in self.channels:
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
        return self.channels_by_id.get(channel_id)

    # ---------------------------------------------------------------- truth
    def truth(self) -> Truth:
        with self.lock:
            visible = self.visible_channels()
            readable = [ch for ch in visible if ch.is_member]
            parts: list[Iterable[tuple[str, str]]] = []
            n_replies = 0
            for ch in readable:
                tops, replies = self._channel_keys(ch)
                parts.append(zip(itertools.repeat(ch.id), tops))
                parts.append(zip(itertools.repeat(ch.id), replies))
                n_replies += len(replies)
            return Truth(
                team_id=self.team_id,
                channel_ids=frozenset(ch.id for ch in visible),
                readable_channel_ids=frozenset(ch.id for ch in readable),
                user_ids=frozenset(u.id for u in self.users),
                members=frozenset((ch.id, m) for ch in readable for m in ch.members),
                messages=frozenset(itertools.chain.from_iterable(parts)),
                n_replies=n_replies,
            )

    def iter_message_keys(self) -> Iterator[tuple[str, str]]:
        """(channel_id, ts) of truth().messages, lazily (one channel at a time under the lock)."""
        for ch in list(self.channels):
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

    def post_message(
        self,
        channel_id: str,
        text: str | None = None,
        user: str | None = None,
        thread_ts: str | None = None,
    ) -> str:
        """Post a top-level message (or a reply when thread_ts is given); returns its ts."""
        if thread_ts is not None:
            return self.add_reply(channel_id, thread_ts, text, user=user)
        with self.lock:
            ch = self._require(channel_id)
            us = self._now_us()
            author = user or ch.authors[us % len(ch.authors)]
            ch.extra[us] = Extra(us, author, text if text is not None else self._gen_text(us))
            ch.extra_hist.append(us)
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
                raise ValueError(f"cannot_reply_to_message: {thread_ts} is a channel_join message")
            us = self._now_us()
            author = user or ch.authors[us % len(ch.authors)]
            ch.extra[us] = Extra(
                us, author, text if text is not None else self._gen_text(us), pus, broadcast
            )
            ch.thread_extra.setdefault(pus, []).append(us)
            if broadcast:
                ch.extra_hist.append(us)
            return ts_str(us)

    def edit_message(self, channel_id: str, ts: str, text: str) -> None:
        """Change a message's text; it then carries edited={user, ts}."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            ch.edits[us] = (text, ts_str(self._now_us()), self.author_of(ch, ref))

    def delete_message(self, channel_id: str, ts: str) -> None:
        """Delete a message; deleting a thread parent deletes its whole thread."""
        with self.lock:
            ch = self._require(channel_id)
            us, ref = self._live_ref(ch, ts)
            ch.deleted.add(us)
            parent = self.parent_of(ch, ref)
            if parent is not None:
                ch.dirty_threads.add(parent)

    def add_channel(self, name: str, *, is_private: bool = False, is_member: bool = True) -> str:
        """Create an empty channel; returns its id."""
        with self.lock:
            if any(c.name == name for c in self.channels):
                raise ValueError(f"name_taken: {name}")
            k = len(self.channels)
            humans = [u.id for u in self.users if not u.is_bot and not u.deleted]
            creator = humans[mix(self.seed, k) % len(humans)]
            members = [creator] + ([self.app_user.id] if is_member else [])
            now_s = self._now_us() // US
            ch = Channel(
                idx=k,
                id=self._ids.make("C", 6, k),
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
            return ch.id

    def leave(self, channel_id: str, user_id: str) -> None:
        """A member leaves the channel: conversations.members stops listing them and the
        channel gets a channel_leave message, as in Slack."""
        with self.lock:
            ch = self._require(channel_id)
            if user_id not in ch.members:
                raise ValueError(f"not_in_channel: {user_id}")
            ch.members.remove(user_id)
            us = self._now_us()
            ch.extra[us] = Extra(us, user_id, "", subtype="channel_leave")
            ch.extra_hist.append(us)

    def join(self, channel_id: str) -> Channel:
        """The bot joins a public channel (conversations.join): member + a channel_join message."""
        with self.lock:
            ch = self._require(channel_id)
            if not ch.is_member:
                ch.is_member = True
                ch.members.append(self.app_user.id)
                us = self._now_us()
                ch.extra[us] = Extra(us, self.app_user.id, "", subtype="channel_join")
                ch.extra_hist.append(us)
            return ch

    def mutate(
        self, rng_seed: int, n: int = 20, *, old_thread_window_s: float | None = None
    ) -> dict[str, int]:
        """Apply n random mutations (deterministic choices for rng_seed); returns counts per op.

        Replies go to existing threads. With old_thread_window_s, only threads whose parent
        is at most that many seconds older than the channel's newest message qualify
        (falling back to a plain message in that window, which then becomes a thread).
        """
        rng = random.Random(mix(self.seed, rng_seed, 0x3D7A7E))
        counts = dict.fromkeys(MUTATION_OPS, 0)
        with self.lock:
            for _ in range(n):
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
        self, ch: Channel, rng: random.Random, parents_ok: bool = False
    ) -> int | None:
        """A random live message (top-level or reply), not a join message (nor a parent)."""
        for _ in range(20):
            if ch.parents and rng.random() < 0.3:
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
                "top_level_messages": n_top,
                "replies": n_rep,
                "messages": n_top + n_rep + sum(len(ch.extra) for ch in self.channels),
                "threads": sum(len(ch.parents) for ch in self.channels),
                "max_thread_replies": max(
                    (max(ch.nrep) for ch in self.channels if ch.nrep), default=0
                ),
            }
