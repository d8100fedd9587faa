"""Masking Slack tokens in text that may end up in logs, exceptions or reprs."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

__all__ = ["MASK", "RedactingFilter", "SecretToken", "mask_token", "redact"]

MASK = "xox?-***"

# xoxb- (bot), xoxp- (user), xoxa- (app/workspace), xoxr- (refresh), xoxs- (session),
# xoxe- (rotating), xapp- (app-level), plus the simulator's "xoxb-sim-..." shapes.
_TOKEN_RE = re.compile(r"\b(?:xox[abeprs](?:\.xox[abeprs])?|xapp)-[A-Za-z0-9._~-]+")


def redact(text: object, secrets: Iterable[str | None] = ()) -> str:
    """``text`` as a string with anything token-shaped and every one of ``secrets`` masked."""
    out = str(text)
    for secret in secrets:
        if secret and len(secret) >= 4 and secret in out:
            out = out.replace(secret, MASK)
    return _TOKEN_RE.sub(MASK, out)


def mask_token(token: str | None) -> str:
    """A display form of a token: its kind and nothing else (``xoxb-***``)."""
    if not token:
        return "<none>"
    match = re.match(r"(xox[a-z]|xapp)-", token)
    return f"{match.group(1)}-***" if match else "token-***"


class RedactingFilter(logging.Filter):
    """Rewrites a record's message with token-shaped strings masked (belt and braces: the
    client never formats its token into a log line in the first place)."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string is not ours to fix here
            return True
        masked = redact(message)
        if masked != message:
            record.msg = masked
            record.args = None
        return True


class SecretToken:
    """Holds the token so that ``repr``, ``str``, ``vars()`` dumps and pickling never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return mask_token(self._value)

    __str__ = __repr__

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Slack token holder cannot be pickled")
