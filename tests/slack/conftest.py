"""Shared helpers for the Slack client tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import aiohttp
import pytest

from ingest.slack import reset_buckets

# Token-shaped on purpose: redaction must catch it by shape and by value.
TOKEN = "xoxb-unit-test-token-SeCrEtSeCrEtSeCrEtSeCrEt42"
BASE = "https://slack.com/api/"


class FakeClock:
    """A settable clock for buckets; thread-safe."""

    def __init__(self, start: float = 0.0) -> None:
        self._t = start
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._t

    def advance(self, dt: float) -> None:
        with self._lock:
            self._t += dt

    def set(self, t: float) -> None:
        with self._lock:
            self._t = t


@pytest.fixture(autouse=True)
def _fresh_buckets() -> Iterator[None]:
    """Buckets are process-global; every test starts with none."""
    reset_buckets()
    yield
    reset_buckets()


def assert_clean(exc: BaseException, token: str = TOKEN) -> None:
    """No token in the exception's text, repr or args, and no aiohttp exception chained."""
    seen: BaseException | None = exc
    while seen is not None:
        assert token not in str(seen)
        assert token not in repr(seen)
        assert all(token not in str(arg) for arg in seen.args)
        assert not isinstance(seen, aiohttp.ClientError), f"aiohttp error chained: {seen!r}"
        seen = seen.__cause__ or seen.__context__
