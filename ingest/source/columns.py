"""Analyst-ready column types for `channels` and `users`.

Slack sends times as epoch numbers: seconds (`created`, `topic.last_set`, `updated` of a
user), milliseconds (`updated` of a channel), with 0 meaning "never". Loaded as they are,
they become BIGINT columns an analyst has to convert in every query. Here they become UTC
timestamps (0 -> null) before dlt sees them, and the column hints fix the types even when
every value in a load is null.

Lists and free-form objects that would otherwise turn into child tables
(`channels__shared_team_ids`, one per list) or hundreds of flattened columns
(`users.profile.fields`) are kept as JSON columns instead: one row per channel or user.

Message times are typed in `arrow.py` (`ts_at`, `edited_at`, `latest_reply_at`); Slack's
exact `ts` strings stay as they are wherever they are keys or cursors.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ingest.source.pii import KEEP, Pii, channel_pii, user_pii

#: epoch field -> divisor to seconds, per table; dotted paths are nested objects
CHANNEL_TIMES: dict[str, int] = {
    "created": 1,
    "updated": 1000,
    "topic.last_set": 1,
    "purpose.last_set": 1,
}
USER_TIMES: dict[str, int] = {
    "updated": 1,
    "profile.status_expiration": 1,
    "profile.huddle_state_expiration_ts": 1,
}
CHANNEL_JSON = (
    "shared_team_ids",
    "pending_shared",
    "pending_connected_team_ids",
    "internal_team_ids",
    "connected_team_ids",
    "connected_limited_team_ids",
    "previous_names",
    "properties",
)
USER_JSON = ("enterprise_user", "profile.fields", "profile.status_emoji_display_info")
#: Conversation kinds every channels row states (false for channels: Slack leaves them out
#: of some objects, e.g. an im has no is_mpim), so `where is_im` never meets a null
CHANNEL_FLAGS = ("is_im", "is_mpim")
#: An im's other party (null for every other conversation); typed even when no DM is loaded
CHANNEL_TEXT = ("user",)


def epoch_to_datetime(value: Any, divisor: int = 1) -> datetime | None:
    """Epoch seconds (or milliseconds with divisor 1000) -> an aware UTC datetime; 0,
    negative, missing or non-numeric values -> None."""
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(value / divisor, tz=UTC)


def _column(path: str) -> str:
    return path.replace(".", "__")


def _retype(row: dict[str, Any], times: dict[str, int]) -> dict[str, Any]:
    out = dict(row)
    for path, divisor in times.items():
        head, _, leaf = path.rpartition(".")
        holder = out
        if head:
            nested = out.get(head)
            if not isinstance(nested, dict):
                continue
            holder = out[head] = dict(nested)
        if leaf in holder:
            holder[leaf] = epoch_to_datetime(holder[leaf], divisor)
    return out


def channel_row(channel: dict[str, Any], pii: Pii = KEEP) -> dict[str, Any]:
    out = _retype(channel, CHANNEL_TIMES)
    for flag in CHANNEL_FLAGS:
        out[flag] = bool(out.get(flag))
    return channel_pii(out, pii)  # --pii: a group DM's name and purpose (pii.py)


def user_row(user: dict[str, Any], pii: Pii = KEEP) -> dict[str, Any]:
    """A user with typed times and, under --pii hash|drop, no personal data (`pii.py`)."""
    return _retype(user_pii(user, pii), USER_TIMES)


def _hints(times: dict[str, int], json_fields: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    hints: dict[str, dict[str, Any]] = {
        _column(p): {"data_type": "timestamp", "nullable": True} for p in times
    }
    hints.update({_column(p): {"data_type": "json", "nullable": True} for p in json_fields})
    return hints


CHANNEL_HINTS = {
    **_hints(CHANNEL_TIMES, CHANNEL_JSON),
    **{c: {"data_type": "bool", "nullable": True} for c in CHANNEL_FLAGS},
    **{c: {"data_type": "text", "nullable": True} for c in CHANNEL_TEXT},
}
USER_HINTS = _hints(USER_TIMES, USER_JSON)
