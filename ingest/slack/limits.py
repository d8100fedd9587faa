"""Slack rate-limit budgets and page sizes, as data.

Everything the client paces by lives in the tables below; nothing is hard-coded in the
client or the bucket. The resolution order for one method is, first match wins per field:

1. ``overrides[method]``            e.g. ``{"conversations.history": {"rate_per_min": 40}}``
2. ``overrides[tier]``              e.g. ``{"tier3": {"rate_per_min": 45, "burst": 8}}``
3. the profile's own tier/page-size changes (``unlisted`` moves history/replies to tier1)
4. ``TIER_RATES`` / ``PAGE_SIZES["default"]``

Tiers are named ``"tier1"`` .. ``"tier4"`` and ``"special"`` (``auth.test``); the same names
are the override keys. A method missing from ``METHOD_TIERS`` is paced as ``DEFAULT_TIER``
(tier 2, 20/min): the slowest common tier, so an unknown method never causes 429s; give it
its own override entry if it deserves more.

Bursts are one below the capacity the simulator (and, we assume, Slack) allows, so the one
spare token absorbs network jitter and a paced request never turns into a 429.

All rates are per *Slack* minute; the bucket multiplies them by ``time_scale``.

``Limits`` bundles all of it for one client: profile, overrides, time scale and the share of
Slack's budget this process may use (``Limits.scaled``). ``resolve_budget`` and friends are
the table look-ups it is built on.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "DEFAULT_RETRY_AFTER_SLACK_S",
    "DEFAULT_TIER",
    "MAX_PAGE_SIZE",
    "METHOD_TIERS",
    "PAGE_SIZES",
    "PROFILES",
    "TIERS",
    "TIER_RATES",
    "Budget",
    "Limits",
    "Profile",
    "resolve_budget",
    "resolve_page_size",
    "resolve_tier",
    "share_budget",
    "validate_overrides",
]

#: Wait after a 429 that carries no usable ``Retry-After``, in Slack seconds. Slack always
#: sends the header; this only guards against proxies dropping it.
DEFAULT_RETRY_AFTER_SLACK_S = 1.0


@dataclass(frozen=True)
class Budget:
    """A per-(workspace, method) budget: ``rate_per_min`` requests per Slack minute with up to
    ``burst`` requests back to back after an idle period. ``rate_per_min=None`` = unlimited."""

    rate_per_min: float | None
    burst: int

    @property
    def unlimited(self) -> bool:
        return self.rate_per_min is None


TIERS: tuple[str, ...] = ("tier1", "tier2", "tier3", "tier4", "special")

#: Slack's tier of every method this project calls (see shared/SLACK_API.md).
METHOD_TIERS: dict[str, str] = {
    "auth.test": "special",
    "auth.teams.list": "tier2",
    "team.info": "tier3",
    "users.list": "tier2",
    "users.info": "tier4",
    "conversations.list": "tier2",
    "conversations.info": "tier3",
    "conversations.members": "tier4",
    "conversations.history": "tier3",
    "conversations.replies": "tier3",
    "conversations.join": "tier3",
    "team.accessLogs": "tier2",
    "files.list": "tier3",
    "usergroups.list": "tier2",
}

DEFAULT_TIER = "tier2"

#: tier -> Budget. Bursts are one below the simulator's capacity (2, 5, 10, 20, 50).
TIER_RATES: dict[str, Budget] = {
    "tier1": Budget(1.0, 1),
    "tier2": Budget(20.0, 4),
    "tier3": Budget(50.0, 9),
    "tier4": Budget(100.0, 19),
    "special": Budget(600.0, 49),
}

#: Largest ``limit`` Slack accepts on any cursor-paginated method we use.
MAX_PAGE_SIZE = 1000

#: ``limit`` for methods that have no entry below.
DEFAULT_PAGE_SIZE = 200

#: profile -> method -> ``limit`` sent by ``paginate``. "default" is the base for every profile.
PAGE_SIZES: dict[str, dict[str, int]] = {
    "default": {
        # Slack: max 999, recommends <= 200. Rescans use 999 (`channel.RESCAN_PAGE`);
        # backfills keep 200 until the resilience tests that count checkpoints on small
        # workspaces are reworked (benchmarks `history_pages`: 999 = 3x fewer requests).
        "conversations.history": 200,
        # Slack's default is 1000; whole threads in one request where possible.
        "conversations.replies": 1000,
        # "under 1000"; filters apply after the page is taken, so a big page costs nothing.
        "conversations.list": 999,
        "conversations.members": 1000,
        # no default; Slack recommends <= 200.
        "users.list": 200,
        # classic paging: sent as `count` (Slack's default 100; no documented maximum).
        "files.list": 200,
    },
    "internal": {},
    "marketplace": {},
    # 2025 rule for commercially distributed non-Marketplace apps: limit max 15.
    "unlisted": {"conversations.history": 15, "conversations.replies": 15},
    "unlimited": {},
}


@dataclass(frozen=True)
class Profile:
    """A named set of changes to the tables above."""

    name: str
    unlimited: bool = False
    method_tiers: Mapping[str, str] | None = None  # method -> tier, on top of METHOD_TIERS


PROFILES: dict[str, Profile] = {
    "internal": Profile("internal"),
    "marketplace": Profile("marketplace"),
    "unlisted": Profile(
        "unlisted",
        method_tiers={"conversations.history": "tier1", "conversations.replies": "tier1"},
    ),
    # No pacing at all (the simulator's raw-speed runs). 429s are still honoured.
    "unlimited": Profile("unlimited", unlimited=True),
}

_ENTRY_KEYS = ("rate_per_min", "burst", "page_size")


def _check_profile(profile: str) -> Profile:
    try:
        return PROFILES[profile]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown Slack rate-limit profile {profile!r}; expected one of {', '.join(PROFILES)}"
        ) from None


def _number(key: str, field: str, value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(f"slack override {key}.{field}: expected a number, got {value!r}")
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(
            f"slack override {key}.{field}: expected a number, got {value!r}"
        ) from None
    if not math.isfinite(number):
        raise ValueError(f"slack override {key}.{field}: expected a finite number, got {value!r}")
    return number


def _integer(key: str, field: str, value: Any, low: int, high: int) -> int:
    number = _number(key, field, value)
    if number != int(number) or not low <= number <= high:
        raise ValueError(
            f"slack override {key}.{field}: expected an integer in [{low}, {high}], got {value!r}"
        )
    return int(number)


def validate_overrides(overrides: Mapping[str, Any] | None) -> dict[str, dict[str, float | int]]:
    """Check an overrides mapping and return it normalised (numbers as float/int).

    Keys are tier names (``tier1``..``tier4``, ``special``) or method names (anything with a
    dot, e.g. ``conversations.history``); values are mappings with any of ``rate_per_min``
    (> 0), ``burst`` (integer >= 1) and ``page_size`` (integer 1..1000; method entries only).
    Raises ``ValueError`` with a one-line message on anything else.
    """
    if overrides is None:
        return {}
    if not isinstance(overrides, Mapping):
        raise ValueError(f"slack overrides: expected a mapping, got {type(overrides).__name__}")
    normalised: dict[str, dict[str, float | int]] = {}
    for key, entry in overrides.items():
        if not isinstance(key, str) or not (key in TIERS or "." in key):
            raise ValueError(
                f"slack override key {key!r}: expected a tier ({', '.join(TIERS)}) "
                "or a method name such as 'conversations.history'"
            )
        if not isinstance(entry, Mapping):
            raise ValueError(f"slack override {key}: expected a mapping, got {entry!r}")
        out: dict[str, float | int] = {}
        for field, value in entry.items():
            if field not in _ENTRY_KEYS:
                raise ValueError(
                    f"slack override {key}: unknown field {field!r}; "
                    f"expected {', '.join(_ENTRY_KEYS)}"
                )
            if field == "rate_per_min":
                rate = _number(key, field, value)
                if rate <= 0:
                    raise ValueError(f"slack override {key}.{field}: must be > 0, got {value!r}")
                out[field] = rate
            elif field == "burst":
                out[field] = _integer(key, field, value, 1, 1_000_000)
            else:
                if key in TIERS:
                    raise ValueError(
                        f"slack override {key}.page_size: page sizes are per method, not per tier"
                    )
                out[field] = _integer(key, field, value, 1, MAX_PAGE_SIZE)
        normalised[key] = out
    return normalised


def resolve_tier(profile: str, method: str) -> str:
    """The tier a method is paced as under ``profile``."""
    prof = _check_profile(profile)
    if prof.method_tiers and method in prof.method_tiers:
        return prof.method_tiers[method]
    return METHOD_TIERS.get(method, DEFAULT_TIER)


def resolve_budget(profile: str, method: str, overrides: Mapping[str, Any] | None = None) -> Budget:
    """The budget for ``method`` under ``profile`` with ``overrides`` merged entry by entry.

    The ``unlimited`` profile ignores rate overrides and returns ``Budget(None, ...)``.
    """
    prof = _check_profile(profile)
    checked = validate_overrides(overrides)
    tier = resolve_tier(profile, method)
    base = TIER_RATES[tier]
    if prof.unlimited:
        return Budget(None, base.burst)
    rate: float | None = base.rate_per_min
    burst = base.burst
    for key in (tier, method):  # method entries win over tier entries
        entry = checked.get(key, {})
        if "rate_per_min" in entry:
            rate = float(entry["rate_per_min"])
        if "burst" in entry:
            burst = int(entry["burst"])
    return Budget(rate, burst)


def resolve_page_size(profile: str, method: str, overrides: Mapping[str, Any] | None = None) -> int:
    """The ``limit`` ``paginate`` sends for ``method`` under ``profile``."""
    _check_profile(profile)
    checked = validate_overrides(overrides)
    entry = checked.get(method, {})
    if "page_size" in entry:
        return int(entry["page_size"])
    profile_sizes = PAGE_SIZES.get(profile, {})
    if method in profile_sizes:
        return profile_sizes[method]
    return PAGE_SIZES["default"].get(method, DEFAULT_PAGE_SIZE)


def share_budget(budget: Budget, share: float) -> Budget:
    """``budget`` for a process that may use ``share`` of it: the rate times ``share``, the
    burst floored (min 1) so the holders' bursts never add up to more than Slack's capacity.
    Unlimited budgets are returned as they are."""
    if share >= 1 or budget.rate_per_min is None:
        return budget
    return Budget(budget.rate_per_min * share, max(1, math.floor(budget.burst * share)))


def _check_share(share: float) -> float:
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 < share <= 1:
        raise ValueError(f"budget share must be in (0, 1], got {share!r}")
    return float(share)


def _check_time_scale(time_scale: float) -> float:
    if not (
        isinstance(time_scale, int | float)
        and not isinstance(time_scale, bool)
        and time_scale > 0
        and math.isfinite(time_scale)
    ):
        raise ValueError(f"time_scale must be a positive number, got {time_scale!r}")
    return float(time_scale)


@dataclass(frozen=True)
class Limits:
    """Everything a client paces by, as one value.

    ``profile`` and ``overrides`` pick the per-method rate/burst/page size (see the module
    docstring); ``time_scale`` is how much faster than Slack's clock the server runs (60 => a
    Slack minute lasts 1 s); ``share`` is the part of Slack's budget this process may use
    (N processes on one token each take 1/N, see ``scaled``). Built once, compared by value,
    never mutated: ``scaled`` and ``with_time_scale`` return new values.
    """

    profile: str = "internal"
    overrides: Mapping[str, Mapping[str, float | int]] = dataclasses.field(
        default_factory=lambda: MappingProxyType({})
    )
    time_scale: float = 1.0
    share: float = 1.0

    def __post_init__(self) -> None:
        _check_profile(self.profile)
        checked = validate_overrides(self.overrides)
        frozen = {key: MappingProxyType(entry) for key, entry in checked.items()}
        object.__setattr__(self, "overrides", MappingProxyType(frozen))
        object.__setattr__(self, "time_scale", _check_time_scale(self.time_scale))
        object.__setattr__(self, "share", _check_share(self.share))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return (self.profile, self.time_scale, self.share, self._plain_overrides()) == (
            other.profile,
            other.time_scale,
            other.share,
            other._plain_overrides(),
        )

    def __hash__(self) -> int:
        items = tuple(sorted((k, tuple(sorted(v.items()))) for k, v in self.overrides.items()))
        return hash((self.profile, self.time_scale, self.share, items))

    def _plain_overrides(self) -> dict[str, dict[str, float | int]]:
        return {key: dict(entry) for key, entry in self.overrides.items()}

    # -- derived values ------------------------------------------------------------------------

    def scaled(self, share: float) -> Limits:
        """These limits for a process taking ``share`` (0 < share <= 1) of them: every rate
        times ``share`` and every burst floored (min 1). Shares multiply."""
        return dataclasses.replace(self, share=self.share * _check_share(share))

    def with_time_scale(self, time_scale: float) -> Limits:
        return dataclasses.replace(self, time_scale=time_scale)

    @property
    def unlimited(self) -> bool:
        return PROFILES[self.profile].unlimited

    def tier(self, method: str) -> str:
        return resolve_tier(self.profile, method)

    def table_budget(self, method: str) -> Budget:
        """The whole workspace's budget for ``method`` (profile + overrides, no share)."""
        return resolve_budget(self.profile, method, self.overrides)

    def budget(self, method: str) -> Budget:
        """This process's budget for ``method``: the table budget scaled by ``share``."""
        return share_budget(self.table_budget(method), self.share)

    def page_size(self, method: str) -> int:
        return resolve_page_size(self.profile, method, self.overrides)

    def min_burst(self, methods: Iterable[str]) -> int | None:
        """The smallest table burst among ``methods`` (None: unlimited). A budget cannot be
        split finer than that: a process's burst never goes below one request."""
        budgets = [self.table_budget(m) for m in methods]
        if not budgets or any(b.unlimited for b in budgets):
            return None
        return min(b.burst for b in budgets)

    def real_seconds(self, slack_s: float) -> float:
        """Slack seconds as real seconds at ``time_scale``."""
        return slack_s / self.time_scale

    @property
    def missing_retry_after_s(self) -> float:
        """Real seconds to wait after a 429 without a usable ``Retry-After``: one Slack
        second, stretched by ``1 / share`` (a process holding 1/N of the budget paces N
        times slower, so it also waits N times longer; this is what it did when the share
        was applied by stretching ``time_scale``)."""
        return DEFAULT_RETRY_AFTER_SLACK_S / (self.time_scale * self.share)

    def as_overrides(self) -> dict[str, dict[str, float | int]]:
        """The overrides as plain dicts (e.g. for settings files)."""
        return self._plain_overrides()
