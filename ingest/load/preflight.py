"""Checks before a load starts, so mistakes fail in a second with one clear line:
the base URL is the Slack Web API, the token works (auth.test), and the channels asked for
exist and can be read.

Everything found here is a user mistake (exit 2): it is found before anything was read.
The same failures later in a run (the server goes away, the token is revoked) are runtime
failures or reported as they happen.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ingest.slack import SlackAuthError, SlackConnectionError, SlackError
from ingest.source import (
    ConfigError,
    LoadSettings,
    client_for,
    org_of_client,
    plan_channels,
    run_async,
)

#: HTTP answers to auth.test (without a Slack JSON body) that mean "there is no such
#: endpoint here": the base URL points at some other web server, and rerunning cannot help.
#: (5xx, 429 and connection failures are retried by the client and stay runtime failures.)
NOT_THE_API = frozenset({"http_404", "http_405", "http_410"})
#: Seconds the probe of the base URL waits for an answer.
PROBE_TIMEOUT_S = 10.0
_FIX_URL = (
    "check --base-url, or base_url in [sources.slack] of .dlt/config.toml (Slack's "
    "is https://slack.com/api/)"
)


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
            f"(auth.test answered HTTP {status}): {_FIX_URL}"
        )
    return None


def looks_like_a_web_page(status: int, content_type: str, body: bytes) -> bool:
    """An answer no Slack API server gives: a non-JSON body (an HTML page...) with a
    non-error status. Truncated JSON (starts with '{'), 5xx pages and 429s are not
    counted: those are a failing Slack, retried as usual."""
    if status >= 500 or status == 429:
        return False
    head = body.lstrip()[:1]
    if head in (b"{", b"["):
        return False
    return "html" in content_type.lower() or head == b"<" or not head or status < 400


async def probe_base_url(base_url: str) -> ConfigError | None:
    """One auth.test *without* a token (Slack answers `{"ok": false, "error":
    "not_authed"}`): an HTML page or other non-JSON answer means base_url is some other web
    server. Connection failures return None (the client's retries judge those). The token
    is not sent: the server may not be Slack's."""
    import aiohttp

    try:
        timeout = aiohttp.ClientTimeout(total=PROBE_TIMEOUT_S)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.post(base_url + "auth.test", data={}) as response,
        ):
            status = response.status
            content_type = response.headers.get("Content-Type", "")
            body = await response.content.read(4096)
    except Exception:  # noqa: BLE001 - unreachable or odd: the client's attempts report it
        return None
    if not looks_like_a_web_page(status, content_type, body):
        return None
    kind = (
        "an HTML page"
        if ("html" in content_type.lower() or body.lstrip()[:1] == b"<")
        else "something other than Slack's JSON"
    )
    return ConfigError(
        f"base URL {_display_url(base_url)} is not the Slack Web API (auth.test answered "
        f"HTTP {status} with {kind}): {_FIX_URL}"
    )


def preflight(
    token: str, settings: LoadSettings, *, token_origin: str | None = None
) -> dict[str, Any]:
    """Check the base URL, the token, `--team` and the channel selection; return
    {"team_id", "org", "teams"}: an org-wide token's `Org` and the workspaces the load
    covers (`team_id` = the one workspace a load reads, or the org's id).

    `token_origin` names where the token came from ("the --token flag", ...): a token
    Slack rejects is then a ConfigError naming it (without it, the SlackAuthError itself
    is raised, as callers that retry on their own expect)."""

    async def check() -> dict[str, Any]:
        wrong = await probe_base_url(settings.base_url)
        if wrong is not None:
            raise wrong
        async with client_for(token, settings) as client:
            info: dict[str, Any] = {"team_id": client.team_id, "org": None, "teams": ()}
            org = await org_of_client(client)
            if org is None:
                if settings.team_ids and tuple(settings.team_ids) != (client.team_id,):
                    raise ConfigError(
                        f"--team {', '.join(settings.team_ids)}: this token belongs to "
                        f"workspace {client.team_id} and is not an org-wide (Enterprise Grid) "
                        "token: leave --team out, or use the org's token"
                    )
            else:
                teams = org.select(settings.team_ids)
                info.update(org=org, teams=teams)
                if len(teams) == 1:
                    info["team_id"] = teams[0]
                elif settings.channels or settings.exclude_channels:
                    raise ConfigError(
                        "--channel/--exclude-channel with an org-wide token: name the "
                        "workspace they belong to with one --team"
                    )
            if settings.channels or settings.exclude_channels:
                if org is not None:  # the one workspace named: its channels
                    client.team_arg = info["team_id"]
                await plan_channels(client, settings, join=False)
            return info

    try:
        return run_async(check)
    except SlackAuthError as exc:
        if token_origin is None:
            raise
        raise ConfigError(f"Slack rejected the token ({exc.code}): check {token_origin}") from None
    except SlackConnectionError as exc:
        # Before anything ran: the URL is wrong or the server is down (exit 2). Later in a
        # run the same failure is a runtime failure (exit 1).
        raise ConfigError(f"{str(exc).splitlines()[0]}: {_FIX_URL}") from None
    except SlackError as exc:
        mistake = not_the_api(exc, settings.base_url)
        if mistake is None:
            raise
        raise mistake from None
