"""Validated load settings: everything a load needs besides the token, checked up front.

Every user mistake found here raises `ConfigError` with a one-line message; the CLI turns
it into exit code 2. Defaults match `.dlt/config.toml` (each key documented inline there).

The settings schema
-------------------
Each setting is declared once, as a field of a frozen dataclass, with `setting(...)`:
its default and type (the field's), its help text, its CLI flag(s) and where it appears.
`LoadSettings` (here: `[sources.slack]`), `ingest.load.target.Target` (`[slack_ingest]`)
and `flows.config.FlowOptions` (flow-run options, no config section) are the three
schemas. Everything else is derived from them:

- the CLI options of `slack-ingest run`, `flow run` and `flow serve`
  (`ingest.cli.options.with_setting_options` builds typer options from the fields);
- the parameters of the `slack_pipeline` flow (`flows.pipeline`, a generated signature);
- the dlt config parameters of `slack_source` (`ingest.source.resources`, likewise);
- config resolution (`ingest.config.resolve`: the keys, their types and the unknown-key
  check come from the fields);
- the flag named in an error line (`FLAGS`, below).

Why field metadata and not a separate table of options: the dataclass stays the one
place a setting lives (a field added with `setting(..., flag=...)` shows up as a flag, a
flow parameter and a config key, with nothing else to edit), and the dataclasses stay
plain frozen values that tasks, Prefect and tests already pass around. The positions
(`cli`, `flow`) only keep `--help` and the flow's parameters in their historical order.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pendulum

PROFILES = ("internal", "marketplace", "unlisted", "unlimited")
PII_MODES = ("keep", "hash", "drop")
_TOKEN_RE = re.compile(r"^xox[abpersc]-[A-Za-z0-9-]+$")


class ConfigError(ValueError):
    """A user mistake in configuration or flags: one clear line, exit code 2."""


#: The commands that take settings as flags (`Setting.commands`).
ALL_COMMANDS = ("run", "flow run", "flow serve")
#: `slack-ingest listen` takes the connection, destination and selection flags of `run`
#: (one set of flags names one pipeline).
WITH_LISTEN = (*ALL_COMMANDS, "listen")
#: Where `setting()` keeps its `Setting` in a dataclass field's metadata.
SETTING = "slack_ingest.setting"


@dataclass(frozen=True)
class Setting:
    """What the schema says about one field beyond its name, type and default."""

    help: str | None = None
    #: typer option declarations (`("--channel", "-c")`, `("--fast/--relational",)`);
    #: () = no CLI flag.
    flags: tuple[str, ...] = ()
    #: Position among a command's options in `--help` (commands interleave their own
    #: options, e.g. --token first and --quiet last, at positions of their own).
    cli: float | None = None
    #: Position among `slack_pipeline`'s parameters; None = not a flow parameter.
    flow: float | None = None
    #: The commands that take the flag.
    commands: tuple[str, ...] = ALL_COMMANDS
    #: The type a caller passes (a flag's or a flow parameter's), when it is not the field's
    #: own type (channels: a list in, a tuple kept).
    kind: Any = None
    #: Smallest value a flag accepts (typer's `min=`).
    min: int | None = None
    #: True when the value is resolved from dlt config: its flag and flow parameter then
    #: default to None ("unset: config applies"); False: they default to the field's default.
    config: bool = True


def setting(
    default: Any = dataclasses.MISSING,
    *,
    help: str | None = None,
    flag: str | tuple[str, ...] = (),
    cli: float | None = None,
    flow: float | None = None,
    commands: tuple[str, ...] = ALL_COMMANDS,
    kind: Any = None,
    min: int | None = None,
    config: bool = True,
    default_factory: Callable[[], Any] | None = None,
) -> Any:
    """A dataclass field carrying its `Setting` (see the module docstring)."""
    meta = {
        SETTING: Setting(
            help=help,
            flags=(flag,) if isinstance(flag, str) else flag,
            cli=cli,
            flow=flow,
            commands=commands,
            kind=kind,
            min=min,
            config=config,
        )
    }
    if default_factory is not None:
        return field(default_factory=default_factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class SchemaField:
    """One field of a settings schema, resolved: name, type, default and `Setting`."""

    name: str
    type: Any
    default: Any
    setting: Setting
    owner: type

    @property
    def kind(self) -> Any:
        """The type callers pass (`Setting.kind`, else the field's type)."""
        return self.setting.kind if self.setting.kind is not None else self.type

    @property
    def flag(self) -> str | None:
        """The flag named in an error line: the first declaration's first name."""
        return self.setting.flags[0].split("/")[0] if self.setting.flags else None


def schema_fields(cls: type) -> Iterator[SchemaField]:
    """The fields of a settings dataclass with their types resolved (string annotations
    of `from __future__ import annotations` evaluated) and their `Setting`."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.default is not dataclasses.MISSING:
            default = f.default
        elif f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        else:
            default = None
        yield SchemaField(f.name, hints[f.name], default, f.metadata.get(SETTING, Setting()), cls)


def normalize_channels(value: Any) -> tuple[str, ...] | None:
    """A channel list as every consumer takes it (flags give a list, env and TOML may give
    "a,b c"): a tuple of names/ids, or None when empty or unset (config then applies)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    out = tuple(str(v) for v in value)
    return out or None


#: The fields that hold channel lists (normalised by `normalize_channels`).
CHANNEL_LISTS = ("channels", "exclude_channels", "team_ids", "org_teams")


def clean_overrides(values: dict[str, Any] | None) -> dict[str, Any]:
    """Explicit settings (flags, flow parameters) without the unset ones: None, and empty
    channel lists, leave the setting to config."""
    out: dict[str, Any] = {}
    for key, value in (values or {}).items():
        if key in CHANNEL_LISTS:
            value = normalize_channels(value)
        if value is not None:
            out[key] = value
    return out


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


def _checked(
    token: str | None, origin: str | None, pattern: re.Pattern[str], missing: str, malformed: str
) -> str:
    """A token, stripped; ConfigError `missing` if there is none, `malformed` (with where
    it came from) if it does not match `pattern`."""
    if token is None or not str(token).strip():
        raise ConfigError(missing)
    token = str(token).strip()
    if not pattern.match(token):
        where = f" (from {origin})" if origin else ""
        raise ConfigError(malformed.format(where=where))
    return token


def check_token(token: str | None, origin: str | None = None) -> str:
    """The token, stripped; ConfigError if there is none or it is malformed. `origin`
    (e.g. "the --token flag") is named in the line, so the user fixes the right place."""
    return _checked(
        token,
        origin,
        _TOKEN_RE,
        "no Slack token: set [sources.slack] access_token in .dlt/secrets.toml, "
        "the SOURCES__SLACK__ACCESS_TOKEN environment variable, or pass --token",
        "the Slack token{where} is malformed: it should start with xoxb-, xoxp- or xoxe- "
        "and contain no spaces",
    )


_APP_TOKEN_RE = re.compile(r"^xapp-[A-Za-z0-9-]+$")


def check_app_token(token: str | None, origin: str | None = None) -> str:
    """The app-level token (Socket Mode), stripped; ConfigError if missing or malformed."""
    return _checked(
        token,
        origin,
        _APP_TOKEN_RE,
        "no app-level token: `slack-ingest listen` needs one (it starts with xapp- and has "
        "the connections:write scope): set [sources.slack] app_token in .dlt/secrets.toml, "
        "the SOURCES__SLACK__APP_TOKEN environment variable, or pass --app-token",
        "the app-level token{where} is malformed: it should start with xapp- and contain "
        "no spaces (the bot token, xoxb- , goes in access_token)",
    )


#: Slack's ts values count from the Unix epoch, and Slack itself dates from 2013: no
#: workspace holds a message before this date (earlier dates are typos, e.g. 1900-01-01,
#: which Slack rejects mid-run as invalid_ts_oldest).
EARLIEST_DATE = "2009-01-01"


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
            raise ConfigError(
                f"{f.name} must be a finite number, got {value!r} (check {where_set(f.name)})"
            )


def check_dates(settings: Any) -> None:
    """Dates Slack can answer for: not before EARLIEST_DATE, a start not in the future."""
    floor = ts_to_micros(ts_from_date(EARLIEST_DATE, name="earliest date") or "0")
    for name, value, ts in (
        ("start_date", settings.start_date, settings.oldest_ts),
        ("end_date", settings.end_date, settings.latest_ts),
    ):
        if ts is not None and ts_to_micros(ts) < floor:
            raise ConfigError(
                f"{name.replace('_', ' ')} {value} is before Slack existed (no message is "
                f"older than {EARLIEST_DATE}): check {where_set(name)}"
            )
    start = settings.oldest_ts
    if start is not None and ts_to_micros(start) > int(time.time() * 1_000_000):
        raise ConfigError(
            f"start date {settings.start_date} is in the future: there is nothing to load "
            f"yet (check {where_set('start_date')})"
        )


@dataclass(frozen=True)
class LoadSettings:
    """What to load and how. Not secret: safe to log, store or pass to Prefect."""

    base_url: str = setting(
        "https://slack.com/api/",
        flag="--base-url",
        cli=1,
        flow=10,
        commands=WITH_LISTEN,
        help="Slack Web API base URL [default: https://slack.com/api/]",
    )
    profile: str = setting(
        "internal",
        flag="--profile",
        cli=12,
        flow=5,
        commands=WITH_LISTEN,
        help="Rate-limit profile: internal, marketplace, unlisted, unlimited [default: internal]",
    )
    time_scale: float = setting(
        1.0,
        flag="--time-scale",
        cli=13,
        flow=11,
        commands=WITH_LISTEN,
        help="Rate budgets run this many times faster (for the simulator) [default: 1]",
    )
    budget_share: float = 1.0
    start_date: str | None = setting(
        None,
        flag="--start-date",
        cli=5,
        flow=1,
        help="Load history from this date (YYYY-MM-DD or ISO datetime, UTC) "
        "[default: the beginning]",
    )
    end_date: str | None = setting(
        None,
        flag="--end-date",
        cli=6,
        flow=6,
        commands=("run", "flow run"),
        help="Load history up to this date (a backfill window) [default: now]",
    )
    channels: tuple[str, ...] = setting(
        (),
        flag=("--channel", "-c"),
        cli=7,
        flow=0,
        kind=list[str],
        commands=WITH_LISTEN,
        help="Channel id or name to load (repeatable) [default: all the token can read]",
    )
    exclude_channels: tuple[str, ...] = setting(
        (),
        flag="--exclude-channel",
        cli=8,
        flow=7,
        kind=list[str],
        commands=WITH_LISTEN,
        help="Channel id or name to skip (repeatable)",
    )
    include_private: bool = setting(
        True,
        flag="--include-private/--no-private",
        cli=9,
        flow=13,
        commands=("run", "flow run", "listen"),
        help="Include private channels the token is in [default: include]",
    )
    exclude_archived: bool = setting(
        False,
        flag="--exclude-archived/--include-archived",
        cli=10,
        flow=14,
        commands=("run", "flow run", "listen"),
        help="Skip archived channels [default: include]",
    )
    include_dms: bool = setting(
        True,
        flag="--dms/--no-dms",
        cli=9.1,
        flow=25,
        commands=("run", "flow run", "listen"),
        help="Include direct messages the token is part of (type im; needs im:read, "
        "im:history) [default: include]",
    )
    include_group_dms: bool = setting(
        True,
        flag="--group-dms/--no-group-dms",
        cli=9.2,
        flow=26,
        commands=("run", "flow run", "listen"),
        help="Include group DMs the token is part of (type mpim; needs mpim:read, "
        "mpim:history) [default: include]",
    )
    include_files: bool = setting(
        True,
        flag="--files/--no-files",
        cli=9.3,
        flow=27,
        commands=("run", "flow run"),
        help="Load file metadata from files.list (not the bytes; needs files:read) "
        "[default: include]",
    )
    include_usergroups: bool = setting(
        True,
        flag="--usergroups/--no-usergroups",
        cli=9.4,
        flow=28,
        commands=("run", "flow run"),
        help="Load user groups and their members (needs usergroups:read) [default: include]",
    )
    pii: str = setting(
        "keep",
        flag="--pii",
        cli=9.5,
        flow=29,
        commands=("run", "flow run", "flow serve"),
        help="Personal data (emails, phones, real and display names, profile images): keep, "
        "hash (salted with the pii_salt secret) or drop, before anything leaves the process "
        "[default: keep]",
    )
    team_ids: tuple[str, ...] = setting(
        (),
        flag="--team",
        cli=1.5,
        flow=30,
        kind=list[str],
        commands=ALL_COMMANDS,
        help="Enterprise Grid: a workspace (team id) to load, repeatable [default: every "
        "workspace an org-wide token is installed in]",
    )
    #: Enterprise Grid: every workspace of this org load (the flow's per-workspace runs
    #: get it, so a channel shared between them is loaded by one of them only).
    org_teams: tuple[str, ...] = setting((), flow=31, kind=list[str])
    auto_join: bool = setting(
        False,
        flag="--auto-join/--no-auto-join",
        cli=11,
        flow=15,
        commands=("run", "flow run"),
        help="Join public channels the bot is not in (needs channels:join) [default: no]",
    )
    replies: bool = True
    rescan: bool = setting(
        False,
        flag="--rescan/--no-rescan",
        cli=14.5,
        flow=23,
        commands=("run", "flow run"),
        help="Re-read the whole history of every channel (999-message pages) and refresh "
        "the threads whose replies moved: catches edits, deletions and replies of any age "
        "that the listener missed [default: no]",
    )
    lookback_days: float = setting(
        7.0,
        flag="--lookback-days",
        cli=14,
        flow=12,
        help="Re-read this many days of history for edits and new thread replies [default: 7]",
    )
    max_concurrent_channels: int = 16
    max_in_flight: int = 32
    fast_path: bool = setting(
        True,
        flag="--fast/--relational",
        cli=15,
        flow=16,
        commands=("run", "flow run"),
        help="Arrow fast path (nested fields as JSON) or dlt's relational child tables "
        "[default: fast]",
    )
    batch_rows: int = 5000
    checkpoint_pages: int = 2
    slice_rows: int = 10_000
    #: A slice also ends at the next channel checkpoint after this many real seconds of
    #: fetching (0 = rows only), so a slow or failing run commits what a minute fetched.
    slice_seconds: float = 60.0
    queue_pages: int = 64
    #: Retry budget per Slack call for transient failures (5xx, resets, bad JSON, 429s...),
    #: in Slack seconds: divided by time_scale (600 = 10 minutes; 10 real s at 60x).
    max_retry_wait_s: float = setting(
        600.0,
        flag="--max-retry-wait",
        cli=19,
        flow=21,
        commands=("run", "flow run"),
        help="Seconds each Slack call retries 5xx, dropped connections and 429s before the run "
        "loads what it fetched and stops with exit 1 (Slack time: divided by "
        "--time-scale) [default: 600]",
    )
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
        if self.pii not in PII_MODES:
            raise ConfigError(
                f"unknown --pii mode {self.pii!r}: choose one of {', '.join(PII_MODES)}"
            )
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
        clean = clean_overrides(values)
        for key in CHANNEL_LISTS:  # an empty list from config: no channels (the default)
            if values.get(key) is not None and key not in clean:
                clean[key] = ()
        try:
            return cls(**clean).validate()
        except TypeError as exc:  # wrong types from a corrupt config
            raise ConfigError(f"invalid [sources.slack] settings: {exc}") from None


#: The flag beside each setting a user may give on the command line (for error lines),
#: from the schema.
FLAGS = {f.name: f.flag for f in schema_fields(LoadSettings) if f.flag}
