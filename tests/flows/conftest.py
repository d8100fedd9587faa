"""One Prefect test server for the whole session (it takes ~10 s to start), used only by
tests/flows. Flows get their token from the environment (dlt's provider) unless a test
creates a Secret block."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("DO_NOT_TRACK", "1")


@pytest.fixture(scope="session", autouse=True)
def prefect_server():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def token_env(monkeypatch):
    """Point dlt's secret provider at a token (the flow reads it where it runs)."""

    def set_token(token: str) -> None:
        monkeypatch.setenv("SOURCES__SLACK__ACCESS_TOKEN", token)
        monkeypatch.setenv("SLACK_INGEST_SECRET_BLOCK", "no-such-block-in-tests")

    return set_token
