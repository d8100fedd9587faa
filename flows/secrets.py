"""Where the Slack token comes from inside a flow run: never a parameter.

0. a token given to this process explicitly (`slack-ingest flow run --token`; it stays in
   this process: the flow and its tasks run here);
1. a Prefect `Secret` block named by `SLACK_INGEST_SECRET_BLOCK` (default `slack-token`),
   if it exists on the Prefect server the run talks to;
2. otherwise dlt's providers (`.dlt/secrets.toml` `[sources.slack] access_token`, or the
   `SOURCES__SLACK__ACCESS_TOKEN` environment variable) via `ingest.config.resolve_token`.

The token is only ever passed to `ingest` functions in the process that uses it; it is not
logged, returned, stored in an artifact, or sent to Prefect as a parameter. The salt of
`--pii hash` (`get_pii_salt`) comes from the same places and is kept the same way.
"""

from __future__ import annotations

import os
from typing import Any

DEFAULT_SECRET_BLOCK = "slack-token"
SECRET_BLOCK_ENV = "SLACK_INGEST_SECRET_BLOCK"
_explicit: list[str] = []


def set_explicit_token(token: str | None) -> None:
    """Use this token for runs in this process (None: forget it)."""
    _explicit.clear()
    if token:
        _explicit.append(token)


def secret_block_name() -> str:
    return os.environ.get(SECRET_BLOCK_ENV, "").strip() or DEFAULT_SECRET_BLOCK


def _from_block(name: str) -> str | None:
    from prefect.blocks.system import Secret
    from prefect.exceptions import ObjectNotFound

    try:
        block: Any = Secret.load(name, _sync=True)  # type: ignore[call-arg]  # (sync dispatch)
    except (ValueError, ObjectNotFound):  # no such block: fall back to dlt's providers
        return None
    value = block.get()
    return None if value is None else str(value)


def get_token() -> str:
    """The Slack token for this run; ConfigError (one line) when there is none."""
    from ingest.config.resolve import resolve_token
    from ingest.source import check_token

    token = _explicit[0] if _explicit else _from_block(secret_block_name())
    if not token:
        token = resolve_token()
    return check_token(token)


DEFAULT_PII_SECRET_BLOCK = "slack-pii-salt"
PII_SECRET_BLOCK_ENV = "SLACK_INGEST_PII_SECRET_BLOCK"


def get_pii_salt(settings: Any) -> str | None:
    """The salt of `--pii hash` for this run, from the same places as the token (never a
    flow parameter): a Prefect Secret block (`SLACK_INGEST_PII_SECRET_BLOCK`, default
    `slack-pii-salt`), else dlt's providers (`[sources.slack] pii_salt`,
    `SOURCES__SLACK__PII_SALT`). None for keep/drop; ConfigError (one line naming the secret)
    when hash finds none."""
    from ingest.config.resolve import resolve_pii_salt

    if settings.pii != "hash":
        return None
    name = os.environ.get(PII_SECRET_BLOCK_ENV, "").strip() or DEFAULT_PII_SECRET_BLOCK
    return _from_block(name) or resolve_pii_salt(settings)


DEFAULT_APP_SECRET_BLOCK = "slack-app-token"
APP_SECRET_BLOCK_ENV = "SLACK_INGEST_APP_SECRET_BLOCK"


def get_app_token() -> str:
    """The app-level token (Socket Mode) for the listener flow, from the same places as the
    bot token: a Prefect Secret block (`SLACK_INGEST_APP_SECRET_BLOCK`, default
    `slack-app-token`), else dlt's providers (`[sources.slack] app_token`,
    `SOURCES__SLACK__APP_TOKEN`)."""
    from ingest.config.resolve import resolve_app_token_with_origin
    from ingest.source import check_app_token

    name = os.environ.get(APP_SECRET_BLOCK_ENV, "").strip() or DEFAULT_APP_SECRET_BLOCK
    token = _from_block(name)
    origin = f"the Prefect Secret block {name!r}"
    if not token:
        token, origin = resolve_app_token_with_origin()
    return check_app_token(token, origin)
