"""Shared helpers for the Slack client tests."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from types import SimpleNamespace
from typing import Any

import aiohttp
import aioresponses.core
import pytest
from aioresponses import aioresponses as _aioresponses

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


class _CompatClientResponse(aiohttp.ClientResponse):
    """aioresponses 0.7.9 builds responses without ``stream_writer``, which aiohttp 3.14's
    ``ClientResponse`` requires (it reads ``stream_writer.output_size`` when the request is
    already sent). Supply a stand-in."""

    def __init__(self, method: str, url: Any, **kwargs: Any) -> None:
        kwargs.setdefault("stream_writer", SimpleNamespace(output_size=0))
        super().__init__(method, url, **kwargs)


@pytest.fixture
def mock_slack(monkeypatch: pytest.MonkeyPatch) -> Iterator[_aioresponses]:
    """``aioresponses()`` made to work with aiohttp 3.14 (patched for this test only)."""
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatClientResponse)
    with _aioresponses() as mocked:
        yield mocked
