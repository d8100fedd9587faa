"""`slack-ingest flow ...`: run the Prefect flow once now, or serve it on a schedule.

Wire into the main CLI with `from flows.cli import flow_app; app.add_typer(flow_app,
name="flow")`. Prefect is imported only when a command runs.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import typer

from flows.config import FlowOptions
from ingest.cli.guard import fail, guarded
from ingest.cli.options import JsonOpt, TokenOpt, with_setting_options
from ingest.load.target import Target
from ingest.source import LoadSettings, clean_overrides

flow_app = typer.Typer(
    help="Run or serve the Prefect flow (sharded, retried, observable).",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

DEFAULT_CRON = "0 0 * * *"


class _NoTraceback(logging.Formatter):
    """Console log lines without tracebacks (the API handler still records them)."""

    def __init__(self, inner: logging.Formatter | None) -> None:
        super().__init__()
        self.inner = inner or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self.inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def _plain_console_logs() -> None:
    """Prefect prints a traceback when a flow fails; the CLI prints one line instead
    (SLACK_INGEST_DEBUG=1 keeps them)."""
    if os.environ.get("SLACK_INGEST_DEBUG"):
        return
    from prefect.logging.handlers import PrefectConsoleHandler

    loggers = [logging.getLogger()] + [
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)
    ]
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(
                handler.formatter, _NoTraceback
            ):
                handler.setFormatter(_NoTraceback(handler.formatter))


def _parameters(overrides: dict[str, Any]) -> dict[str, Any]:
    """Flow parameters from CLI flags: unset flags stay unset (dlt config applies); lists
    stay lists (JSON-safe, as Prefect stores them)."""
    return {
        k: list(v) if isinstance(v, list | tuple) else v
        for k, v in clean_overrides(overrides).items()
    }


SERVER_HINT = (
    "start one with `prefect server start` and set PREFECT_API_URL=http://127.0.0.1:4200/api"
)


def _api_url() -> str | None:
    """PREFECT_API_URL as Prefect resolves it (environment or the active profile)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    return str(url).strip() or None if url else None


def _check_server(command: str, *, required: bool) -> None:
    """One line and exit 2 when the Prefect server is missing (`required`) or unreachable,
    instead of Prefect's traceback (`flow run`) or waiting forever (`flow serve`)."""
    import httpx

    url = _api_url()
    if url is None:
        if required:
            fail(f"flow {command} needs a Prefect server: {SERVER_HINT}", 2)
        return
    try:
        httpx.get(f"{url.rstrip('/')}/health", timeout=5.0)
    except httpx.HTTPError as exc:
        why = type(exc).__name__
        fail(
            f"cannot reach the Prefect server at PREFECT_API_URL={url} ({why}): "
            f"{SERVER_HINT}"
            + (
                ""
                if required
                else ", or unset PREFECT_API_URL to run against a temporary local server"
            ),
            2,
        )


def _quiet_prefect(quiet: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


#: The columns of the per-shard table (`flows.artifacts.shard_rows` keys).
SHARD_COLUMNS = (
    "shard",
    "channels",
    "messages",
    "replies",
    "requests",
    "429s",
    "attempts",
    "seconds",
)


def _print_summary(summary: dict[str, Any], json_path: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from flows.artifacts import channel_label, channels_line, names_of, shard_rows

    console = Console()
    table = Table(
        title=f"slack-ingest flow: {summary.get('mode')}, {summary.get('wall_s', 0):.1f}s"
    )
    rows = shard_rows(summary.get("shards") or [])
    for col in SHARD_COLUMNS:
        table.add_column(col, justify="left" if col == "shard" else "right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in SHARD_COLUMNS))
    console.print(table)
    skipped = summary.get("skipped") or {}
    console.print(
        f"channels {channels_line(summary)}; "
        f"messages {summary.get('messages', 0):,}, replies {summary.get('replies', 0):,}",
        highlight=False,
    )
    if skipped:
        names = names_of(summary)
        table = Table(title="Channels not read")
        table.add_column("channel")
        table.add_column("why")
        for cid, why in sorted(skipped.items()):
            table.add_row(escape(channel_label(cid, names)), escape(why))
        console.print(table)
    if json_path is not None:
        json_path.write_text(json.dumps(summary, indent=2, default=str))
        console.print(f"summary written to {json_path}")


@flow_app.command(
    "run",
    help="Run the flow once now, in this process (against "
    "PREFECT_API_URL, or a temporary local Prefect server if none is set).",
)
@with_setting_options("flow run", LoadSettings, Target, FlowOptions)
def run_cmd(
    overrides: dict[str, Any],
    token: TokenOpt = None,
    json_path: JsonOpt = None,
    quiet: Annotated[
        bool, typer.Option("--quiet", "-q", help="Only warnings from Prefect")
    ] = False,
) -> None:
    _quiet_prefect(quiet)
    shard_deployment = overrides.get("shard_deployment")
    if token and shard_deployment:
        fail(
            "--token cannot reach shards run by workers: store the token in a Prefect "
            "Secret block 'slack-token' (or dlt secrets on the workers)",
            2,
        )
    _check_server("run", required=bool(shard_deployment))
    params = _parameters(overrides)

    def go() -> dict[str, Any]:
        from flows.secrets import set_explicit_token

        if token:
            from ingest.source import check_token

            set_explicit_token(check_token(token))
        from flows.pipeline import slack_pipeline

        _plain_console_logs()
        try:
            return slack_pipeline(**params)
        finally:
            set_explicit_token(None)

    summary = guarded(go)
    _print_summary(summary, json_path)


@flow_app.command(
    "serve",
    help="Serve the flow on a schedule (nightly by default) until "
    "interrupted; needs a Prefect server (PREFECT_API_URL). Flags become the "
    "deployment's default parameters; the token is read at each run.",
)
@with_setting_options("flow serve", LoadSettings, Target, FlowOptions)
def serve_cmd(
    overrides: dict[str, Any],
    cron: Annotated[str, typer.Option("--cron", help="Schedule (cron, UTC)")] = DEFAULT_CRON,
    name: Annotated[str, typer.Option("--name", help="Deployment name")] = "slack_pipeline",
) -> None:
    _quiet_prefect(False)
    params = _parameters(overrides)

    from prefect.schedules import Cron

    try:
        Cron(cron)
    except ValueError:
        fail(f"invalid cron expression {cron!r} (e.g. '0 0 * * *' for midnight UTC)", 2)
    _check_server("serve", required=True)

    def go() -> None:
        from flows.pipeline import slack_pipeline

        slack_pipeline.serve(name=name, cron=cron, parameters=params)

    guarded(go)


def main() -> None:
    flow_app()


if __name__ == "__main__":
    main()
