"""Checks before a load starts, so mistakes fail in a second with one clear line:
the token works (auth.test), the base URL answers, and named channels exist."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ingest.slack import SlackError
from ingest.source.fanout import client_for, run_async
from ingest.source.resources import list_channels
from ingest.source.selection import plan_channels
from ingest.source.settings import ConfigError, LoadSettings

#: HTTP answers to auth.test (without a Slack JSON body) that mean "there is no such
#: endpoint here": the base URL points at some other web server, and rerunning cannot help.
#: (5xx, 429 and connection failures are retried by the client and stay runtime failures.)
NOT_THE_API = frozenset({"http_404", "http_405", "http_410"})


def _display_url(url: str) -> str:
    """The URL without any user:password part."""
    try:
        parts = urlsplit(url)
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=host))
    except ValueError:
        return "(unparsable URL)"


def not_the_api(exc: BaseException, base_url: str) -> ConfigError | None:
    """The user mistake behind a failed auth.test, if the answer says base_url is not the
    Slack Web API."""
    if type(exc) is SlackError and exc.method == "auth.test" and exc.code in NOT_THE_API:
        status = exc.code.removeprefix("http_")
        return ConfigError(
            f"base URL {_display_url(base_url)} does not look like the Slack Web API "
            f"(auth.test answered HTTP {status}): check --base-url, or base_url in "
            "[sources.slack] of .dlt/config.toml (Slack's is https://slack.com/api/)")
    return None


def preflight(token: str, settings: LoadSettings) -> dict[str, Any]:
    async def check() -> dict[str, Any]:
        async with client_for(token, settings) as client:
            info: dict[str, Any] = {"team_id": client.team_id}
            if settings.channels or settings.exclude_channels:
                plan_channels(await list_channels(client, settings), settings)
            return info

    try:
        return run_async(check)
    except SlackError as exc:
        mistake = not_the_api(exc, settings.base_url)
        if mistake is None:
            raise
        raise mistake from None
