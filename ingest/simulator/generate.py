"""Deterministic generation of users, channels and per-channel message metadata.

Only metadata is stored: message i of channel c is derived on demand from
(seed, c, i) by `ingest.simulator.messages`, so `large` (~2M messages) stays small.
"""

from __future__ import annotations

import random
from array import array
from dataclasses import dataclass, field

from .hashing import make_id, mix, str_key
from .model import GEN_END, GEN_START, Channel, User, UserGroup

SIZES = ("tiny", "small", "medium", "large")

# Fraction of top-level messages that start a thread, and the expected replies per thread
# (used to aim the total message count).
THREAD_FRAC = 0.06
MEAN_REPLIES = 6.0


@dataclass(frozen=True)
class SizeSpec:
    humans: int
    bots: int
    channels: int
    messages: int  # total incl. replies, all channels
    big_thread: int  # the biggest channel's first thread has at least this many replies
    max_replies: int


SIZE_SPECS: dict[str, SizeSpec] = {
    "tiny": SizeSpec(humans=8, bots=1, channels=6, messages=400, big_thread=24, max_replies=40),
    "small": SizeSpec(
        humans=50, bots=3, channels=20, messages=10_000, big_thread=150, max_replies=300
    ),
    "medium": SizeSpec(
        humans=500, bots=10, channels=200, messages=200_000, big_thread=1100, max_replies=1500
    ),
    "large": SizeSpec(
        humans=5000, bots=40, channels=2000, messages=2_000_000, big_thread=1500, max_replies=2000
    ),
}

_FIRST = (
    "alice bob carol dave erin frank grace heidi ivan judy mallory niaj olivia peggy rupert "
    "sybil trent victor walter yara zoe amir bea chen dara emil fatima goran hana igor jun"
).split()
_LAST = (
    "smith jones garcia miller davis lopez wilson anderson thomas taylor moore martin lee "
    "perez white harris clark lewis young walker hall allen king wright scott green"
).split()
_TZS = (
    ("America/Los_Angeles", "Pacific Standard Time", -28800),
    ("America/New_York", "Eastern Standard Time", -18000),
    ("Europe/London", "Greenwich Mean Time", 0),
    ("Europe/Berlin", "Central European Time", 3600),
    ("Asia/Tokyo", "Japan Standard Time", 32400),
    ("Asia/Kolkata", "India Standard Time", 19800),
)
_CHAN_WORDS = (
    "eng ops sales support design data infra mobile web api growth billing security "
    "platform search ml finance legal hr marketing product qa release oncall incidents"
).split()
# (ims, mpims) per size; about half of each include the app's bot user
DM_COUNTS: dict[str, tuple[int, int]] = {
    "tiny": (3, 2),
    "small": (8, 4),
    "medium": (30, 10),
    "large": (60, 20),
}
USERGROUP_COUNTS: dict[str, int] = {"tiny": 2, "small": 5, "medium": 20, "large": 60}
# Channel.idx of the first DM: above any channel's (mutations add channels at len(channels))
DM_IDX0 = 1 << 24
_GROUP_WORDS = (
    "backend frontend oncall design leads sre data mobile support sales security "
    "platform release infra growth qa docs billing search ml"
).split()
_BOT_NAMES = ("jira", "github", "pagerduty", "deploybot", "standup", "polly", "sentry", "zapier")
_COLORS = ("9f69e7", "4bbe2e", "e7392d", "3c989f", "e0a729", "674b1b", "e96699", "5b89d5")


class _Ids:
    """Unique deterministic ids per prefix."""

    def __init__(self, seed: int) -> None:
        self.seed = seed
        self.seen: set[str] = set()

    def make(self, prefix: str, *key: int, length: int = 10) -> str:
        salt = 0
        while True:
            ident = make_id(prefix, mix(self.seed, str_key(prefix), *key, salt), length)
            if ident not in self.seen:
                self.seen.add(ident)
                return ident
            salt += 1


@dataclass
class Generated:
    team_id: str
    team_name: str
    domain: str
    users: list[User]
    app_user: User
    channels: list[Channel]
    dms: list[Channel] = field(default_factory=list)  # ims then mpims
    usergroups: list[UserGroup] = field(default_factory=list)


def generate(size: str, seed: int) -> Generated:
    spec = SIZE_SPECS[size]
    rng = random.Random(mix(seed, 0xC0FFEE))
    ids = _Ids(seed)
    team_id = ids.make("T", 1, length=8)
    domain = f"sim-{team_id[1:].lower()}"
    users = _make_users(spec, seed, rng, ids, team_id)
    app_user = users[-1]
    channels = _make_channels(spec, size, seed, rng, ids, users, app_user)
    # own rngs: the DMs and groups leave every channel (ids, messages) as it was
    dms = _make_dms(size, seed, ids, users, app_user)
    groups = _make_usergroups(size, seed, ids, users, channels)
    return Generated(
        team_id, f"Simulated {size} workspace", domain, users, app_user, channels, dms, groups
    )


def _make_users(
    spec: SizeSpec, seed: int, rng: random.Random, ids: _Ids, team_id: str
) -> list[User]:
    users: list[User] = []
    for k in range(spec.humans):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        u = User(
            idx=k,
            id=ids.make("U", 2, k),
            name=f"{first}.{last}{k}",
            first_name=first.title(),
            last_name=last.title(),
            deleted=k > 1 and rng.random() < 0.06,
            is_admin=k < 2 or rng.random() < 0.03,
            is_owner=k == 0,
            is_restricted=k > 1 and rng.random() < 0.03,
            tz=rng.choice(_TZS),
            color=rng.choice(_COLORS),
            updated=rng.randrange(GEN_START, GEN_END),
            title=rng.choice(("", "Engineer", "Designer", "PM", "SRE", "Analyst")),
        )
        users.append(u)
    # guarantee at least one deleted human when the team is big enough
    if spec.humans >= 6 and not any(u.deleted for u in users):
        users[-1].deleted = True
    for b in range(spec.bots):
        k = len(users)
        name = _BOT_NAMES[b % len(_BOT_NAMES)] + (str(b) if b >= len(_BOT_NAMES) else "")
        users.append(
            User(
                idx=k,
                id=ids.make("U", 3, b),
                name=name,
                first_name=name.title(),
                last_name="",
                is_bot=True,
                bot_id=ids.make("B", 3, b),
                app_id=ids.make("A", 3, b),
                deleted=b > 0 and rng.random() < 0.1,
                updated=rng.randrange(GEN_START, GEN_END),
            )
        )
    k = len(users)
    users.append(
        User(
            idx=k,
            id=ids.make("U", 4, 0),
            name="slack-ingest",
            first_name="Slack Ingest",
            last_name="",
            is_bot=True,
            bot_id=ids.make("B", 4, 0),
            app_id=ids.make("A", 4, 0),
            updated=GEN_START + 86400,
        )
    )
    return users


# (name, is_private, is_archived, bot is member) for the tiny workspace
_TINY_CHANNELS = (
    ("general", False, False, True),
    ("random", False, False, True),
    ("announcements", False, False, False),
    ("old-project", False, True, True),
    ("leads", True, False, True),
    ("secret-hr", True, False, False),
)


def _channel_kinds(
    spec: SizeSpec, size: str, rng: random.Random
) -> list[tuple[str, bool, bool, bool]]:
    if size == "tiny":
        return list(_TINY_CHANNELS)
    kinds = [("general", False, False, True), ("engineering", False, False, True)]
    # make sure every kind exists at least once
    kinds += [
        ("lobby", False, False, False),
        ("archive-2020", False, True, True),
        ("archive-2021", False, True, False),
        ("private-leads", True, False, True),
        ("private-hr", True, False, False),
    ]
    names = {k[0] for k in kinds}
    while len(kinds) < spec.channels:
        name = f"{rng.choice(_CHAN_WORDS)}-{rng.choice(_CHAN_WORDS)}"
        if name in names:
            name = f"{name}-{len(kinds)}"
        names.add(name)
        r = rng.random()
        if r < 0.18:
            kinds.append((name, True, False, rng.random() < 0.6))
        elif r < 0.26:
            kinds.append((name, False, True, rng.random() < 0.7))
        elif r < 0.41:
            kinds.append((name, False, False, False))
        else:
            kinds.append((name, False, False, True))
    return kinds


def _make_channels(
    spec: SizeSpec,
    size: str,
    seed: int,
    rng: random.Random,
    ids: _Ids,
    users: list[User],
    app_user: User,
) -> list[Channel]:
    kinds = _channel_kinds(spec, size, rng)
    active_humans = [u.id for u in users if not u.is_bot and not u.deleted]
    active_bots = [u.id for u in users if u.is_bot and not u.deleted and u is not app_user]
    human_set = set(active_humans)
    n = len(kinds)
    # Zipf-like message volume; the biggest share goes to channel 1 (readable, not #general).
    weights = [1.0 / (k + 1) ** 1.05 for k in range(n)]
    order = list(range(n))
    rng.shuffle(order)
    pos = order.index(1)
    order[0], order[pos] = order[pos], order[0]
    share = [0.0] * n
    for rank, ch_idx in enumerate(order):
        share[ch_idx] = weights[rank]
    total_w = sum(share)
    top_total = spec.messages / (1 + THREAD_FRAC * MEAN_REPLIES)

    channels: list[Channel] = []
    for k, (name, is_private, is_archived, bot_member) in enumerate(kinds):
        if k == 0:
            members = list(active_humans)
        else:
            size_m = min(len(active_humans), 2 + int(4 * rng.random() ** -0.9))
            members = rng.sample(active_humans, size_m)
            if active_bots and rng.random() < 0.3:
                members.append(rng.choice(active_bots))
        authors = [m for m in members if m in human_set] or [active_humans[0]]
        if bot_member:
            members.append(app_user.id)
        created = rng.randrange(GEN_START, GEN_END - 400 * 86400)
        n_top = max(1, round(top_total * share[k] / total_w))
        start = created + rng.randrange(60, 86400)
        gap = max(2, (GEN_END - start) // n_top)
        ch = Channel(
            idx=k,
            id=ids.make("C", 5, k),
            name=name,
            is_private=is_private,
            is_archived=is_archived,
            is_general=k == 0,
            is_member=bot_member,
            created=created,
            creator=members[0] if members else users[0].id,
            members=members,
            authors=authors,
            topic=rng.choice(("", "Status updates", "Ask anything", "Weekly syncs")),
            purpose=rng.choice(("", f"Discussion of {name}", "Team channel")),
            n_top=n_top,
            start=start,
            gap=gap,
            pin_count=rng.randrange(0, 4),
        )
        _make_threads(ch, seed, spec, big=(k == 1))
        channels.append(ch)
    return channels


def _make_threads(ch: Channel, seed: int, spec: SizeSpec, big: bool) -> None:
    """Choose thread parents and reply counts (Pareto), and the broadcast replies."""
    rng = random.Random(mix(seed, ch.idx, 0x7EAD))
    if ch.n_top < 2:
        return
    want = THREAD_FRAC * (ch.n_top - 1)
    k = int(want) + (1 if rng.random() < want - int(want) else 0)
    if big:
        k = max(k, 1)
    k = min(k, ch.n_top - 1)
    parents = sorted(rng.sample(range(1, ch.n_top), k)) if k else []
    nrep = []
    for _ in parents:
        x = rng.random() ** (-1 / 1.3)  # Pareto(alpha=1.3, xm=1)
        nrep.append(max(1, min(spec.max_replies, int(2 * x) - 1)))
    if big and parents:
        nrep[0] = max(nrep[0], spec.big_thread)
    ch.parents = array("q", parents)
    ch.nrep = array("l", nrep)


def _make_dms(size: str, seed: int, ids: _Ids, users: list[User], app_user: User) -> list[Channel]:
    """ims then mpims. Human 0 has an im with the bot and a humans-only im; tiny is fixed:
    ims (bot, h0), (bot, h1), (h0, h2); mpims (h0, h1, bot), (h0, h2, h3)."""
    rng = random.Random(mix(seed, 0xD3D3))
    n_im, n_mpim = DM_COUNTS[size]
    humans = [u.id for u in users if not u.is_bot and not u.deleted]
    h0, bot = humans[0], app_user.id
    names = {u.id: u.name for u in users}
    seen: set[frozenset[str]] = set()
    ims: list[list[str]] = []  # [other party, bot] or [human, human]
    n_bot_im = (n_im + 1) // 2
    for k, h in enumerate(humans[:n_bot_im] if size == "tiny" else [h0] + humans[1:]):
        if k >= n_bot_im:
            break
        if size != "tiny" and k > 0:
            h = rng.choice(humans[1:])
        if frozenset((h, bot)) not in seen:
            seen.add(frozenset((h, bot)))
            ims.append([h, bot])
    while len(ims) < n_bot_im:  # rng collisions above: fill in order
        h = next(x for x in humans if frozenset((x, bot)) not in seen)
        seen.add(frozenset((h, bot)))
        ims.append([h, bot])
    first = [h0, humans[2]]
    seen.add(frozenset(first))
    ims.append(first)
    tries = 0
    while len(ims) < n_im and tries < 1000:
        tries += 1
        a, b = rng.sample(humans, 2)
        if frozenset((a, b)) not in seen:
            seen.add(frozenset((a, b)))
            ims.append([a, b])
    mpims: list[list[str]] = []
    n_bot_mpim = (n_mpim + 1) // 2
    if size == "tiny":
        mpims = [[h0, humans[1], bot], [h0, humans[2], humans[3]]]
    tries = 0
    while len(mpims) < n_mpim and tries < 1000:
        tries += 1
        with_bot = len(mpims) < n_bot_mpim
        k = 2 + rng.randrange(3) + (0 if with_bot else 1)
        ms = rng.sample(humans, min(k, len(humans)))
        if not mpims or (len(mpims) == n_bot_mpim and h0 not in ms):
            ms = [h0] + [m for m in ms if m != h0][: k - 1]
        if with_bot:
            ms.append(bot)
        if frozenset(ms) not in seen:
            seen.add(frozenset(ms))
            mpims.append(ms)
    human_set = set(humans)
    out: list[Channel] = []
    for k, members in enumerate(ims + mpims):
        is_im = k < len(ims)
        n_top = rng.randint(15, 40) if size in ("tiny", "small") else rng.randint(10, 60)
        created = rng.randrange(GEN_START, GEN_END - 400 * 86400)
        start = created + rng.randrange(60, 86400)
        if is_im:
            cid, name = ids.make("D", 8, k), ""
        else:
            cid = ids.make("G", 9, k)
            name = "mpdm-" + "--".join(names[m] for m in members) + "-1"
        ch = Channel(
            idx=DM_IDX0 + k,
            id=cid,
            name=name,
            is_private=True,
            is_archived=False,
            is_general=False,
            is_member=bot in members,
            created=created,
            creator=members[0],
            members=list(members),
            authors=[m for m in members if m in human_set],
            purpose=""
            if is_im
            else "Group messaging with: " + " ".join(f"@{names[m]}" for m in members),
            n_top=n_top,
            start=start,
            gap=max(2, (GEN_END - start) // n_top),
            is_im=is_im,
            is_mpim=not is_im,
            dm_user=members[0] if is_im and members[1] == bot else (members[1] if is_im else ""),
        )
        # a couple of short threads
        t_rng = random.Random(mix(seed, ch.idx, 0x7EAD))
        k_threads = min(n_top - 1, 1 + t_rng.randrange(3))
        parents = sorted(t_rng.sample(range(1, n_top), k_threads))
        ch.parents = array("q", parents)
        ch.nrep = array("l", [1 + t_rng.randrange(8) for _ in parents])
        out.append(ch)
    return out


def _make_usergroups(
    size: str, seed: int, ids: _Ids, users: list[User], channels: list[Channel]
) -> list[UserGroup]:
    """usergroups.list: tiny has 2 (the second disabled); one in seven is disabled elsewhere."""
    rng = random.Random(mix(seed, 0x5A6E))
    humans = [u.id for u in users if not u.is_bot and not u.deleted]
    public = [ch.id for ch in channels if not ch.is_private]
    out: list[UserGroup] = []
    handles: set[str] = set()
    for k in range(USERGROUP_COUNTS[size]):
        word = rng.choice(_GROUP_WORDS)
        handle = word if word not in handles else f"{word}-{k}"
        handles.add(handle)
        created = rng.randrange(GEN_START, GEN_END - 86400)
        updated = created + rng.randrange(0, 86400)
        n = min(len(humans), 2 + rng.randrange(10))
        members = rng.sample(humans, n)
        if k == 0 and humans[0] not in members:
            members[0] = humans[0]
        disabled = k == 1 if size == "tiny" else k % 7 == 3
        g = UserGroup(
            id=ids.make("S", 10, k),
            name=f"{handle.replace('-', ' ').title()} Team",
            handle=handle,
            description=rng.choice(("", f"Everyone working on {word}", "Ping for help")),
            date_create=created,
            date_update=updated,
            created_by=humans[0],
            updated_by=rng.choice(humans),
            users=members,
            channels=rng.sample(public, min(len(public), rng.randrange(3))),
        )
        if disabled:
            g.date_delete = updated + 3600
            g.deleted_by = humans[0]
        out.append(g)
    return out
