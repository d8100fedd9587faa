"""One place for configuration: dlt's config providers, then explicit overrides (CLI flags).

Order of precedence (highest first): CLI flags / explicit arguments, environment variables
(`SOURCES__SLACK__PROFILE`, `SLACK_INGEST__DATASET`, ...), `.dlt/secrets.toml`,
`.dlt/config.toml`, then the defaults in `LoadSettings` and `Target`.

The keys, their types and the unknown-key check come from the settings schema
(`ingest.source.settings`): a `LoadSettings` field is a key of `[sources.slack]`, a `Target`
field one of `[slack_ingest]`; nothing here names a setting.

Why not dlt's typed resolution (`@configspec` + `resolve_configuration(spec,
sections=("sources", "slack"))`, or `dlt.config.get(key, type)`): measured with dlt 1.x,
(1) `resolve_configuration` walks up the sections, so an unrelated `PROFILE`, `DATASET` or
`DESTINATION` environment variable (or a `[sources]` table) would set a setting: that
changes the documented precedence; (2) dlt coerces booleans with `str2bool`, which also
takes t/y/f/n and no surrounding spaces, and its `ConfigValueCannotBeCoercedException`
does not carry our error line. So each value is read at its exact key from dlt's
providers (`dlt.config.get("sources.slack.<field>")`: dlt still owns the providers, their
order and the TOML files) and `_coerce` turns environment strings into the field's type
(one small function, typed by the schema), keeping every error line as it was.
"""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from typing import Any

import dlt
import orjson

from ingest.config.files import toml_read_error
from ingest.load.run import ALL_RESOURCES
from ingest.load.target import Target
from ingest.source import (
    ConfigError,
    LoadSettings,
    SchemaField,
    clean_overrides,
    pii_for,
    schema_fields,
)

SOURCE_SECTION = "sources.slack"
TARGET_SECTION = "slack_ingest"
#: Keys `[sources.slack]` may hold: every LoadSettings field, the tokens and the --pii hash
#: salt (secrets.toml).
SOURCE_KEYS = frozenset(
    {f.name for f in schema_fields(LoadSettings)} | {"access_token", "app_token", "pii_salt"}
)
#: Sub-tables dlt itself reads there: `[sources.slack.slack]` (the `slack_source` function's
#: own section) and one per resource (`[sources.slack.messages]`, ...).
SOURCE_TABLES = frozenset({"slack", *ALL_RESOURCES})


def _unreadable(exc: Exception, what: str) -> ConfigError:
    """A one-line ConfigError for a configuration dlt could not read: a TOML file with a
    syntax error is named with its line and the cause."""
    line = toml_read_error(exc)
    if line is None:
        line = f"cannot read {what}: {exc}".splitlines()[0].rstrip(":")
    return ConfigError(line)


def _lookup(key: str) -> Any:
    try:
        return dlt.config.get(key)
    except Exception as exc:  # a corrupt config.toml surfaces here
        raise _unreadable(exc, f"dlt configuration ({key})") from None


TOKEN_FLAG = "--token"
TOKEN_ENV = "SOURCES__SLACK__ACCESS_TOKEN"


def resolve_token(explicit: str | None = None) -> str | None:
    return resolve_token_with_origin(explicit)[0]


APP_TOKEN_FLAG = "--app-token"
APP_TOKEN_ENV = "SOURCES__SLACK__APP_TOKEN"


def resolve_token_with_origin(explicit: str | None = None) -> tuple[str | None, str]:
    """The token and where it came from, in words for an error line: the --token flag,
    the environment variable, or the secrets file (first provider that has it, in dlt's
    order)."""
    return _secret_with_origin("access_token", explicit, TOKEN_FLAG, TOKEN_ENV)


def resolve_app_token_with_origin(explicit: str | None = None) -> tuple[str | None, str]:
    """The app-level token (`xapp-`, Socket Mode) and where it came from: --app-token,
    SOURCES__SLACK__APP_TOKEN, or `app_token` in [sources.slack] of .dlt/secrets.toml."""
    return _secret_with_origin("app_token", explicit, APP_TOKEN_FLAG, APP_TOKEN_ENV)


PII_SALT_KEY = "pii_salt"
PII_SALT_ENV = "SOURCES__SLACK__PII_SALT"


def resolve_pii_salt(settings: LoadSettings) -> str | None:
    """The salt of `--pii hash` (`pii_salt` in [sources.slack] of .dlt/secrets.toml, or
    SOURCES__SLACK__PII_SALT); None for keep/drop (not read). ConfigError naming the secret
    when hash has none, so the run stops before anything is read from Slack. Never put the
    value in a message."""
    if settings.pii != "hash":
        return None
    salt = _secret_with_origin(PII_SALT_KEY, None, "", PII_SALT_ENV)[0]
    pii_for(settings.pii, salt)  # ConfigError: the one line naming the secret to set
    return salt


def _secret_with_origin(
    key: str, explicit: str | None, flag: str, env: str
) -> tuple[str | None, str]:
    if explicit:
        return explicit, f"the {flag} flag"
    try:
        for provider in dlt.secrets.config_providers:
            value = provider.get_value(key, Any, None, "sources", "slack")[0]
            if value is None:
                continue
            return str(value), _provider_origin(provider, key, env)
    except Exception as exc:
        raise _unreadable(exc, "dlt secrets") from None
    return None, "nowhere"


def _provider_origin(provider: Any, key: str = "access_token", env: str = TOKEN_ENV) -> str:
    from dlt.common.configuration.providers.toml import SettingsTomlProvider

    if isinstance(provider, SettingsTomlProvider):
        where = ", ".join(os.path.normpath(p) for p in provider.present_locations)
        return f"{key} in [{SOURCE_SECTION}] of {where or '.dlt/' + provider.name}"
    if type(provider).__name__ == "EnvironProvider":
        return f"the {env} environment variable"
    return f"the {provider.name} configuration provider"


def resolve_section(schema: type, section: str, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Each field of `schema` (a settings dataclass): its override, else the value dlt's
    providers hold at `<section>.<field>` (None when none does), coerced to the field's
    type (`_coerce`; every key is looked up first, so an unreadable file is reported
    before a bad value)."""
    fields = list(schema_fields(schema))
    values = [
        overrides[f.name] if f.name in overrides else _lookup(f"{section}.{f.name}") for f in fields
    ]
    return {f.name: _coerce(value, f) for f, value in zip(fields, values, strict=True)}


def resolve_settings(overrides: dict[str, Any] | None = None) -> LoadSettings:
    values = resolve_section(LoadSettings, SOURCE_SECTION, clean_overrides(overrides))
    check_source_files()
    return LoadSettings.from_mapping(values)


def unknown_source_keys(section: Mapping[str, Any]) -> list[str]:
    """Keys of a `[sources.slack]` table that nothing reads (a misspelling, most likely)."""
    return sorted(
        key
        for key, value in section.items()
        if key not in SOURCE_KEYS and not (key in SOURCE_TABLES and isinstance(value, Mapping))
    )


#: Names users write for a key (a bare "token" is the bot token: the one every run needs).
_ALIASES = {"token": "access_token", "bot_token": "access_token", "xapp": "app_token"}


def _closest_key(key: str) -> str | None:
    if key in _ALIASES:
        return _ALIASES[key]
    close = difflib.get_close_matches(key, sorted(SOURCE_KEYS), n=1)
    if close:
        return close[0]
    within = sorted(k for k in SOURCE_KEYS if key in k or k in key)  # token -> access_token
    return within[0] if len(within) == 1 else None


def check_source_keys(section: Mapping[str, Any], origin: str) -> None:
    """ConfigError naming every unknown key of `section` (with the closest known key), so a
    misspelt setting is not silently ignored. Only key names are shown, never values."""
    unknown = unknown_source_keys(section)
    if not unknown:
        return
    described, guessed = [], True
    for key in unknown:
        close = _closest_key(key)
        described.append(f"{key!r} (did you mean {close!r}?)" if close else repr(key))
        guessed = guessed and close is not None
    noun = "key" if len(unknown) == 1 else "keys"
    known = "" if guessed else f"; known keys: {', '.join(sorted(SOURCE_KEYS))}"
    raise ConfigError(
        f"unknown {noun} {', '.join(described)} in [{SOURCE_SECTION}] of {origin}{known}"
    )


def check_source_files() -> None:
    """Check the `[sources.slack]` tables of .dlt/config.toml and .dlt/secrets.toml.
    (Environment variables are not checked: the environment is shared with other tools.)"""
    from dlt.common.configuration.providers.toml import SettingsTomlProvider

    try:
        tables = [
            (
                ", ".join(p.present_locations) or f".dlt/{p.name}",
                p.get_value("slack", Any, "", "sources")[0],
            )  # ("": no pipeline)
            for p in dlt.config.config_providers
            if isinstance(p, SettingsTomlProvider)
        ]
    except Exception as exc:  # a corrupt toml file surfaces here
        raise _unreadable(exc, "dlt configuration") from None
    for origin, table in tables:
        if isinstance(table, Mapping):
            check_source_keys(table, origin)


def resolve_target(overrides: dict[str, Any] | None = None) -> Target:
    overrides = {k: v for k, v in (overrides or {}).items() if v is not None}
    values = {
        f.name: overrides[f.name] if f.name in overrides else _lookup(f"{TARGET_SECTION}.{f.name}")
        for f in schema_fields(Target)
    }
    found: dict[str, Any] = {k: str(v) for k, v in values.items() if v is not None}
    return Target(**found)


def _limits(value: Any) -> dict[str, Any]:
    """Budget overrides: a TOML table, or JSON in an environment variable."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            raise ConfigError(
                "limits must be a table (or JSON in an environment variable)"
            ) from None
    if not isinstance(value, dict):
        raise ConfigError("limits must be a table of method or tier entries")
    return orjson.loads(orjson.dumps(value, default=dict))


def _base_type(hint: Any) -> Any:
    """`float` of `float`, `float | None`; other hints as they are."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    return args[0] if isinstance(hint, types.UnionType) and len(args) == 1 else hint


_BOOL_WORDS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _coerce(value: Any, field: SchemaField) -> Any:
    """Environment variables arrive as strings: a string becomes the field's type (bool,
    int, float); `limits` is a table or JSON. Other values pass as they are."""
    if field.name == "limits" and value is not None:
        return _limits(value)
    kind = _base_type(field.type)
    if not isinstance(value, str) or kind not in (bool, int, float):
        return value
    try:
        if kind is bool:
            return _BOOL_WORDS[value.strip().lower()]
        return kind(value)
    except (KeyError, ValueError):
        raise ConfigError(
            f"setting {field.name}={value!r} is not a valid {kind.__name__}"
        ) from None
