"""Opaque pagination cursors: urlsafe base64 of a small JSON object, always ending in "="."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson


class InvalidCursor(ValueError):
    """The cursor was not made by this simulator for this method/target."""


def encode(state: dict[str, Any]) -> str:
    raw = orjson.dumps(state)
    if len(raw) % 3 == 0:  # force base64 padding so cursors end with "=" like Slack's
        raw += b" "
    return base64.urlsafe_b64encode(raw).decode()


def decode(cursor: str, kind: str, **expect: Any) -> dict[str, Any]:
    """Decode a cursor of `kind` whose fields match `expect`; InvalidCursor otherwise."""
    try:
        state = orjson.loads(base64.urlsafe_b64decode(cursor.encode("ascii")))
    except (binascii.Error, ValueError, UnicodeEncodeError) as e:
        raise InvalidCursor(str(e)) from None
    if not isinstance(state, dict) or state.get("k") != kind:
        raise InvalidCursor("wrong cursor kind")
    for key, value in expect.items():
        if state.get(key) != value:
            raise InvalidCursor(f"cursor {key} mismatch")
    return state
