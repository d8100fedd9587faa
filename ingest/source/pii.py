"""Personal data (`--pii keep|hash|drop`): applied to rows before dlt writes them.

A warehouse that only needs who-talks-where must not hold emails, phone numbers, names or
avatars. These transforms run in the source, on the dicts Slack returned, so nothing
personal reaches dlt's load packages, its state, or the destination.

What counts as personal data (policy as data: the tuples below):

- a user's `real_name` and `name` (the handle: often the email's local part, `jane.doe`,
  so keeping it would undo hashing the email);
- in the profile: email, phone, skype, pronouns, real/display names and their normalized
  forms, first and last name, every `image_*` URL (`image_original`, `image_24`..
  `image_1024`), `avatar_hash`, and the custom profile `fields` (free-form, set by the
  person: phone numbers, birthdays, links);
- a message's `user_profile` (Slack attaches the author's names and avatar), also inside
  a broadcast's `root`;
- a group DM's (mpim) `name` and `name_normalized` (`mpdm-jane.doe--sam.lee-1`: the
  members' handles) and its generated purpose (`Group messaging with: @jane.doe ...`).

Left as they are: ids (`U...`: the join keys), `title`, `status_text`/`status_emoji` (not
identifying on their own; a status is what a person chose to show everyone), `tz`, and bot
users (`is_bot`: an app's name and icon are not a person's; bot messages' `bot_profile` and
`icons` likewise), so bot names stay readable.

Modes: `keep` returns every object unchanged (the same object: not one byte differs);
`hash` replaces each non-empty string with `h:` + HMAC-SHA256(salt, value) in hex: the same
value hashes the same in every table and run with the same salt (so `users.real_name` and
`messages.user_profile.real_name` still join); empty strings stay empty; `drop` removes the
keys. The salt is a secret (`pii_salt` in `[sources.slack]` of .dlt/secrets.toml, or
`SOURCES__SLACK__PII_SALT`): `Pii` keeps only an HMAC object, never prints it, and cannot
be pickled.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from ingest.source.settings import PII_MODES, ConfigError

#: A hashed value starts with this, so it is recognisable (and never mistaken for a name).
HASH_PREFIX = "h:"
#: The secret's key in `[sources.slack]` and its environment variable.
SALT_KEY = "pii_salt"
SALT_ENV = "SOURCES__SLACK__PII_SALT"
#: The one line for `--pii hash` without a salt.
MISSING_SALT = (
    f"--pii hash needs a salt: set the {SALT_ENV} environment variable or {SALT_KEY} in "
    "[sources.slack] of .dlt/secrets.toml"
)

#: Personal fields of a user object (top level).
USER_FIELDS = ("name", "real_name")
#: Personal fields of `profile` (users) and `user_profile` (messages); plus PROFILE_PREFIXES.
PROFILE_FIELDS = (
    "name",
    "email",
    "phone",
    "skype",
    "pronouns",
    "real_name",
    "real_name_normalized",
    "display_name",
    "display_name_normalized",
    "first_name",
    "last_name",
    "avatar_hash",
    "fields",
)
#: Every profile key starting with one of these (profile images at each size).
PROFILE_PREFIXES = ("image_",)
#: Personal fields of a group DM (mpim), and of its `purpose`.
MPIM_FIELDS = ("name", "name_normalized")
MPIM_NESTED = ("purpose",)
#: The message keys holding the author's profile (a broadcast's `root` carries one too).
MESSAGE_PROFILES = ("user_profile",)
MESSAGE_NESTED = ("root",)


class Pii:
    """The `--pii` mode and, for `hash`, the keyed hash. Its repr names the mode only."""

    __slots__ = ("_mac", "mode")

    def __init__(self, mode: str = "keep", salt: str | None = None) -> None:
        if mode not in PII_MODES:
            raise ConfigError(f"unknown --pii mode {mode!r}: choose one of {', '.join(PII_MODES)}")
        if mode == "hash" and not (salt and salt.strip()):
            raise ConfigError(MISSING_SALT)
        self.mode = mode
        self._mac = (
            hmac.new(salt.encode(), digestmod=hashlib.sha256)
            if mode == "hash" and salt is not None
            else None
        )

    @property
    def keeps(self) -> bool:
        return self.mode == "keep"

    def hash(self, value: str) -> str:
        """`h:` + the hex HMAC-SHA256 of `value` under the salt."""
        if self._mac is None:
            raise ValueError("hashing needs --pii hash and a salt")
        mac = self._mac.copy()
        mac.update(value.encode())
        return HASH_PREFIX + mac.hexdigest()

    def value(self, value: Any) -> Any:
        """One personal value in hash mode: non-empty strings hashed, custom profile fields
        (`{id: {value, alt}}`) hashed inside, anything else (empty, null, numbers) kept."""
        if isinstance(value, str):
            return self.hash(value) if value else value
        if isinstance(value, dict):
            return {k: self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(v) for v in value]
        return value

    def __repr__(self) -> str:
        return f"Pii({self.mode!r})"

    def __reduce__(self) -> tuple[Any, ...]:
        raise TypeError("a Pii policy holds the salt and cannot be pickled")


KEEP = Pii("keep")


def salt_from_config() -> str | None:
    """The salt from dlt's providers (`SOURCES__SLACK__PII_SALT`, `pii_salt` in
    `[sources.slack]` of .dlt/secrets.toml), read at its exact key like the token (dlt's
    typed resolution would walk up the sections and record what it resolved)."""
    import dlt

    for provider in dlt.secrets.config_providers:
        value = provider.get_value(SALT_KEY, Any, None, "sources", "slack")[0]
        if value is not None and str(value).strip():
            return str(value)
    return None


def pii_for(mode: str, salt: str | None = None) -> Pii:
    """The policy of a load: `salt` when given, else (for `hash`) dlt's providers';
    ConfigError (MISSING_SALT) when `hash` finds none."""
    if mode != "hash":
        return KEEP if mode == "keep" else Pii(mode)
    return Pii(mode, salt if salt else salt_from_config())


def _personal(key: str, fields: tuple[str, ...], prefixes: tuple[str, ...]) -> bool:
    return key in fields or key.startswith(prefixes)


def _apply(
    obj: dict[str, Any], pii: Pii, fields: tuple[str, ...], prefixes: tuple[str, ...] = ()
) -> dict[str, Any]:
    """A copy of `obj` with its personal keys hashed or dropped."""
    if pii.mode == "drop":
        return {k: v for k, v in obj.items() if not _personal(k, fields, prefixes)}
    return {k: pii.value(v) if _personal(k, fields, prefixes) else v for k, v in obj.items()}


def profile_pii(profile: dict[str, Any], pii: Pii) -> dict[str, Any]:
    """A user's `profile` or a message's `user_profile`."""
    if pii.keeps:
        return profile
    return _apply(profile, pii, PROFILE_FIELDS, PROFILE_PREFIXES)


def user_pii(user: dict[str, Any], pii: Pii) -> dict[str, Any]:
    """A `users.list` member (bots, `is_bot`, are apps: kept)."""
    if pii.keeps or user.get("is_bot") is True:
        return user
    out = _apply(user, pii, USER_FIELDS)
    if isinstance(out.get("profile"), dict):
        out["profile"] = profile_pii(out["profile"], pii)
    return out


def message_pii(msg: dict[str, Any], pii: Pii) -> dict[str, Any]:
    """A message: its author's `user_profile` (and the one in a broadcast's `root`)."""
    if pii.keeps or not any(k in msg for k in MESSAGE_PROFILES + MESSAGE_NESTED):
        return msg
    out = dict(msg)
    for key in MESSAGE_PROFILES:
        if isinstance(out.get(key), dict):
            out[key] = profile_pii(out[key], pii)
    for key in MESSAGE_NESTED:
        if isinstance(out.get(key), dict):
            out[key] = message_pii(out[key], pii)
    return out


def channel_pii(channel: dict[str, Any], pii: Pii) -> dict[str, Any]:
    """A conversation: a group DM's (mpim) name and purpose; other kinds unchanged."""
    if pii.keeps or channel.get("is_mpim") is not True:
        return channel
    out = _apply(channel, pii, MPIM_FIELDS)
    for key in MPIM_NESTED:
        nested = out.get(key)
        if isinstance(nested, dict) and "value" in nested:
            out[key] = _apply(nested, pii, ("value",))
    return out
