"""Validated load settings: everything a load needs besides the token, checked up front.

Every user mistake found here raises `ConfigError` with a one-line message; the CLI turns
it into exit code 2. Defaults match `.dlt/config.toml` (documented in docs/CONFIG.md).
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
from dataclasses import dataclass, field
from typing import Any

import pendulum

PROFILES = ("internal", "marketplace", "unlisted", "unlimited")
_TOKEN_RE = re.compile(r"^xox[abpersc]-[A-Za-z0-9-]+$")


class ConfigError(ValueError):
    """A user mistake in configuration or flags: one clear line, exit code 2."""


def ts_from_date(value: str | None, *, name: str) -> str | None:
    """Parse an ISO date/datetime (UTC unless an offset is given) into a Slack ts string."""
    if value is None or value == "":
        return None
    if isinstance(value, int | float):
        return format_ts(int(round(float(value) * 1_000_000)))
    try:
        dt = pendulum.parse(str(value), tz="UTC")
    except Exception:  # pendulum raises several types for bad input
        raise ConfigError(
            f"{name} {value!r} is not a date: use YYYY-MM-DD or an ISO datetime"
        ) from None
    if not isinstance(dt, pendulum.DateTime):
        if isinstance(dt, pendulum.Date):
            dt = pendulum.datetime(dt.year, dt.month, dt.day, tz="UTC")
        else:
            raise ConfigError(f"{name} {value!r} is not a date: use YYYY-MM-DD or an ISO datetime")
    return format_ts(int(dt.timestamp()) * 1_000_000 + dt.microsecond)


def ts_to_micros(ts: str) -> int:
    """Slack ts string -> integer microseconds, exactly (a float would lose digits)."""
    sec, _, frac = ts.partition(".")
    return int(sec) * 1_000_000 + int((frac + "000000")[:6])


def format_ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def check_token(token: str | None, origin: str | None = None) -> str:
    """The token, stripped; ConfigError if there is none or it is malformed. `origin`
    (e.g. "the --token flag") is named in the line, so the user fixes the right place."""
    if token is None or not str(token).strip():
        raise ConfigError(
            "no Slack token: set [sources.slack] access_token in .dlt/secrets.toml, "
            "the SOURCES__SLACK__ACCESS_TOKEN environment variable, or pass --token"
        )
    token = str(token).strip()
    if not _TOKEN_RE.match(token):
        where = f" (from {origin})" if origin else ""
        raise ConfigError(
            f"the Slack token{where} is malformed: it should start with xoxb-, xoxp- or xoxe- "
            "and contain no spaces"
        )
    return token


#: Slack's ts values count from the Unix epoch, and Slack itself dates from 2013: no
#: workspace holds a message before this date (earlier dates are typos, e.g. 1900-01-01,
#: which Slack rejects mid-run as invalid_ts_oldest).
EARLIEST_DATE = "2009-01-01"
#: The flag beside each setting a user may give on the command line (for error lines).
FLAGS = {"time_scale": "--time-scale", "lookback_days": "--lookback-days",
         "start_date": "--start-date", "end_date": "--end-date", "channels": "--channel",
         "exclude_channels": "--exclude-channel", "base_url": "--base-url",
         "profile": "--profile", "max_retry_wait_s": "--max-retry-wait"}


def where_set(name: str) -> str:
    """Where a setting comes from, for an error line: its flag (if any) or its key."""
    flag = FLAGS.get(name)
    key = f"{name} in [sources.slack] of .dlt/config.toml"
    return f"{flag} or {key}" if flag else key


def check_numbers(settings: Any) -> None:
    """Every numeric setting is a finite number (TOML and float() accept nan and inf,
    which would otherwise fail later with a raw ValueError or OverflowError)."""
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{f.name} must be a finite number, got {value!r} "
                              f"(check {where_set(f.name)})")


def check_dates(settings: Any) -> None:
    """Dates Slack can answer for: not before EARLIEST_DATE, a start not in the future."""
    floor = ts_to_micros(ts_from_date(EARLIEST_DATE, name="earliest date") or "0")
    for name, value, ts in (("start_date", settings.start_date, settings.oldest_ts),
                            ("end_date", settings.end_date, settings.latest_ts)):
        if ts is not None and ts_to_micros(ts) < floor:
            raise ConfigError(
                f"{name.replace('_', ' ')} {value} is before Slack existed (no message is "
                f"older than {EARLIEST_DATE}): check {where_set(name)}")
    start = settings.oldest_ts
    if start is not None and ts_to_micros(start) > int(time.time() * 1_000_000):
        raise ConfigError(
            f"start date {settings.start_date} is in the future: there is nothing to load "
            f"yet (check {where_set('start_date')})")


@dataclass(frozen=True)
class LoadSettings:
    """What to load and how. Not secret: safe to log, store or pass to Prefect."""

    base_url: str = "https://slack.com/api/"
    profile: str = "internal"
    time_scale: float = 1.0
    budget_share: float = 1.0
    start_date: str | None = None
    end_date: str | None = None
    channels: tuple[str, ...] = ()
    exclude_channels: tuple[str, ...] = ()
    include_private: bool = True
    exclude_archived: bool = False
    auto_join: bool = False
    replies: bool = True
    lookback_days: float = 7.0
    max_concurrent_channels: int = 16
    max_in_flight: int = 32
    fast_path: bool = True
    batch_rows: int = 5000
    checkpoint_pages: int = 2
    slice_rows: int = 10_000
    #: A slice also ends at the next channel checkpoint after this many real seconds of
    #: fetching (0 = rows only), so a slow or failing run commits what a minute fetched.
    slice_seconds: float = 60.0
    queue_pages: int = 64
    #: Retry budget per Slack call for transient failures (5xx, resets, bad JSON, 429s...),
    #: in Slack seconds: divided by time_scale (600 = 10 minutes; 10 real s at 60x).
    max_retry_wait_s: float = 600.0
    limits: dict[str, Any] = field(default_factory=dict)

    @property
    def oldest_ts(self) -> str | None:
        return ts_from_date(self.start_date, name="start date")

    @property
    def latest_ts(self) -> str | None:
        return ts_from_date(self.end_date, name="end date")

    @property
    def lookback_s(self) -> float:
        return self.lookback_days * 86400.0

    def validate(self) -> LoadSettings:
        check_numbers(self)
        if self.profile not in PROFILES:
            raise ConfigError(
                f"unknown profile {self.profile!r}: choose one of {', '.join(PROFILES)}"
            )
        if not str(self.base_url).startswith(("http://", "https://")):
            raise ConfigError(f"base URL {self.base_url!r} must start with http:// or https://")
        if self.time_scale <= 0:
            raise ConfigError("time scale must be > 0")
        if not 0 < self.budget_share <= 1:
            raise ConfigError("budget share must be in (0, 1]")
        if self.lookback_days < 0:
            raise ConfigError("lookback days must be >= 0")
        if self.max_concurrent_channels < 1 or self.max_in_flight < 1:
            raise ConfigError("concurrency settings must be >= 1")
        if not self.max_retry_wait_s >= 0:
            raise ConfigError("max_retry_wait_s must be >= 0 (seconds of Slack time)")
        if not self.slice_seconds >= 0:
            raise ConfigError("slice_seconds must be >= 0 (0 = slices by rows only)")
        check_dates(self)
        start, end = self.oldest_ts, self.latest_ts
        if start is not None and end is not None and ts_to_micros(end) <= ts_to_micros(start):
            raise ConfigError(f"end date {self.end_date} is not after start date {self.start_date}")
        return self

    def replace(self, **changes: Any) -> LoadSettings:
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> LoadSettings:
        """Build from a config mapping, ignoring None values (so defaults apply)."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(k for k in values if k not in known)
        if unknown:
            raise ConfigError(f"unknown setting(s) in [sources.slack]: {', '.join(unknown)}")
        clean: dict[str, Any] = {}
        for key, value in values.items():
            if value is None:
                continue
            if key in ("channels", "exclude_channels"):
                if isinstance(value, str):
                    value = [v for v in re.split(r"[,\s]+", value) if v]
                value = tuple(str(v) for v in value)
            clean[key] = value
        try:
            return cls(**clean).validate()
        except TypeError as exc:  # wrong types from a corrupt config
            raise ConfigError(f"invalid [sources.slack] settings: {exc}") from None
