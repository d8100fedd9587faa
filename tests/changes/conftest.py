"""Listener processes a test started are killed when it ends, pass or fail."""

from __future__ import annotations

import pytest

from tests.changes.support import STARTED


@pytest.fixture(autouse=True)
def _no_listener_left_behind():
    yield
    while STARTED:
        proc = STARTED.pop()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
