"""Plain data records of a simulated workspace (users, channels, mutation overlays)."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

US = 1_000_000
# Generated top-level ts have micro < REPLY_MICRO; generated replies have micro >= it.
REPLY_MICRO = 500_000
# A generated thread lasts at most this many seconds; REPLY_MICRO > MAX_THREAD_S keeps
# replies of two threads sharing a micro residue (parents >= 500000 s apart) disjoint.
MAX_THREAD_S = 400_000
GEN_START = 1546300800  # 2019-01-01T00:00:00Z
GEN_END = 1767225600  # 2026-01-01T00:00:00Z
# Every generated ts (top-level or reply) is below this; mutations are above it.
HORIZON_US = (GEN_END + MAX_THREAD_S + 2 * 86400) * US


def ts_str(us: int) -> str:
    """Integer microseconds -> Slack ts string "SSSSSSSSSS.uuuuuu"."""
    return f"{us // US:010d}.{us % US:06d}"


def parse_ts(value: str) -> int | None:
    """Slack ts (or any non-negative decimal seconds string) -> int microseconds."""
    s = value.strip()
    if not s:
        return None
    sec, _, frac = s.partition(".")
    if not sec:
        sec = "0"
    if not sec.isdigit() or (frac and not frac.isdigit()) or len(sec) > 12:
        return None
    return int(sec) * US + int((frac[:6]).ljust(6, "0"))


@dataclass(slots=True, eq=False)
class User:
    idx: int
    id: str
    name: str
    first_name: str
    last_name: str
    deleted: bool = False
    is_bot: bool = False
    is_admin: bool = False
    is_owner: bool = False
    is_restricted: bool = False
    bot_id: str = ""
    app_id: str = ""
    tz: tuple[str, str, int] = ("America/Los_Angeles", "Pacific Standard Time", -28800)
    color: str = "9f69e7"
    updated: int = 0
    title: str = ""
    real_name_override: str | None = None  # set by Workspace.change_user
    display_name_override: str | None = None

    @property
    def real_name(self) -> str:
        if self.real_name_override is not None:
            return self.real_name_override
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def display_name(self) -> str:
        if self.display_name_override is not None:
            return self.display_name_override
        return "" if self.is_bot else self.name.split(".")[0]


@dataclass(slots=True, eq=False)
class Extra:
    """A message created by a mutation (posted, replied, joined)."""

    us: int
    user: str
    text: str
    parent_us: int | None = None  # set for thread replies
    broadcast: bool = False
    subtype: str | None = None  # channel_join/leave/name/archive/unarchive system messages
    old_name: str = ""  # channel_name messages
    new_name: str = ""


@dataclass(slots=True, eq=False)
class Channel:
    """Channel metadata; its generated messages are derived, never stored."""

    idx: int
    id: str
    name: str
    is_private: bool
    is_archived: bool
    is_general: bool
    is_member: bool
    created: int
    creator: str
    members: list[str]
    authors: list[str]  # humans who post the generated messages (fixed at generation)
    topic: str = ""
    purpose: str = ""
    previous_names: list[str] = field(default_factory=list)
    # generated messages: top-level i has sec in [start + i*gap, start + (i+1)*gap)
    n_top: int = 0
    start: int = 0
    gap: int = 2
    parents: array = field(default_factory=lambda: array("q"))  # sorted thread parent indices
    nrep: array = field(default_factory=lambda: array("l"))  # generated replies per parent
    bc_us: list[int] = field(default_factory=list)  # generated broadcasts: sorted ts
    bc_ref: list[tuple[int, int]] = field(default_factory=list)  # (parent index, reply index)
    bc_pairs: set[tuple[int, int]] = field(default_factory=set)  # same pairs, for membership
    pin_count: int = 0
    hkey: int = 0  # mix(seed, idx): hash prefix shared by every message of the channel
    # overlays (mutations)
    extra: dict[int, Extra] = field(default_factory=dict)
    extra_hist: list[int] = field(default_factory=list)  # sorted ts of new top-level/broadcasts
    thread_extra: dict[int, list[int]] = field(default_factory=dict)  # parent ts -> new replies
    # (each list ascending: replies always take the clock's "now")
    deleted: set[int] = field(default_factory=set)
    dirty_threads: set[int] = field(default_factory=set)  # parents with a deleted reply
    edits: dict[int, tuple[str, str, str]] = field(default_factory=dict)  # ts -> (text, ts, user)
    # ts -> the message's whole current reactions [(name, users)] once a mutation touched
    # them (an empty list: none left); keys are never removed
    react: dict[int, list[tuple[str, list[str]]]] = field(default_factory=dict)
    # direct messages: an im (two parties) or an mpim (group DM); both are is_private
    is_im: bool = False
    is_mpim: bool = False
    dm_user: str = ""  # ims: the other party as seen by the bot (or by members[0])

    @property
    def is_public(self) -> bool:
        return not self.is_private

    @property
    def is_dm(self) -> bool:
        return self.is_im or self.is_mpim


@dataclass(slots=True, eq=False)
class UserGroup:
    """A user group (usergroups.list); disabled when date_delete is set."""

    id: str
    name: str
    handle: str
    description: str
    date_create: int
    date_update: int
    created_by: str
    updated_by: str
    users: list[str]
    channels: list[str]  # prefs.channels: default channels of the group
    date_delete: int = 0
    deleted_by: str | None = None

    @property
    def disabled(self) -> bool:
        return self.date_delete > 0
