"""`slack-ingest flow ...`: run the Prefect flow once now, or serve it on a schedule.

Wire into the main CLI with `from flows.cli import flow_app; app.add_typer(flow_app,
name="flow")`. Prefect is imported only when a command runs.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.cli.guard import fail, guarded
from ingest.cli.options import (
    ArchivedOpt,
    BaseUrlOpt,
    ChannelsOpt,
    DatasetOpt,
    DestOpt,
    DuckOpt,
    EndOpt,
    ExcludeOpt,
    FastOpt,
    JoinOpt,
    JsonOpt,
    LookbackOpt,
    MaxRetryWaitOpt,
    PrivateOpt,
    ProfileOpt,
    StartOpt,
    TimeScaleOpt,
    TokenOpt,
)

flow_app = typer.Typer(help="Run or serve the Prefect flow (sharded, retried, observable).",
                       no_args_is_help=True, pretty_exceptions_enable=False,
                       add_completion=False)

DEFAULT_CRON = "0 0 * * *"

ShardsOpt = Annotated[int, typer.Option("--shards", min=1, help="Channel-history shards (one dlt pipeline each, one dataset)")]
ConcOpt = Annotated[int, typer.Option("--max-concurrency", min=1, help="Shards running at once (with --shard-deployment: the Prefect tag concurrency limit 'slack-history')")]
ShardDeplOpt = Annotated[str | None, typer.Option("--shard-deployment", help="Run shards as flow runs of this deployment (e.g. slack_shard/slack-shard) so any worker picks them up")]
RetriesOpt = Annotated[int, typer.Option("--retries", min=0, help="Retries of a task after a transient failure (exponential backoff with jitter)")]
BackoffOpt = Annotated[float, typer.Option("--retry-backoff", help="First retry delay in seconds (then x2, x4, ...)")]


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
        lg for lg in logging.Logger.manager.loggerDict.values() if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for handler in lg.handlers:
            if isinstance(handler, PrefectConsoleHandler) and not isinstance(
                    handler.formatter, _NoTraceback):
                handler.setFormatter(_NoTraceback(handler.formatter))


def _parameters(**kw: Any) -> dict[str, Any]:
    """Flow parameters from CLI flags: unset flags stay unset (dlt config applies)."""
    out: dict[str, Any] = {}
    for key, value in kw.items():
        if value is None or (key in ("channels", "exclude_channels") and not value):
            continue
        out[key] = list(value) if isinstance(value, list | tuple) else value
    return out


SERVER_HINT = ("start one with `prefect server start` and set "
               "PREFECT_API_URL=http://127.0.0.1:4200/api")


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
        fail(f"cannot reach the Prefect server at PREFECT_API_URL={url} ({why}): "
             f"{SERVER_HINT}" + ("" if required else ", or unset PREFECT_API_URL to run "
                                 "against a temporary local server"), 2)


def _quiet_prefect(quiet: bool) -> None:
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    if quiet:
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "WARNING")


def _print_summary(summary: dict[str, Any], json_path: Path | None) -> None:
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    from flows.artifacts import channel_label, channels_line, names_of, shard_rows

    console = Console()
    table = Table(title=f"slack-ingest flow: {summary.get('mode')}, {summary.get('wall_s', 0):.1f}s")
    rows = shard_rows(summary.get("shards") or [])
    for col in ("shard", "channels", "messages", "replies", "requests", "429s", "attempts", "seconds"):
        table.add_column(col, justify="left" if col == "shard" else "right")
    for r in rows:
        table.add_row(*(str(r[c]) for c in ("shard", "channels", "messages", "replies",
                                            "requests", "429s", "attempts", "seconds")))
    console.print(table)
    skipped = summary.get("skipped") or {}
    console.print(f"channels {channels_line(summary)}; "
                  f"messages {summary.get('messages', 0):,}, replies {summary.get('replies', 0):,}",
                  highlight=False)
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


@flow_app.command("run", help="Run the flow once now, in this process (against "
                  "PREFECT_API_URL, or a temporary local Prefect server if none is set).")
def run_cmd(
    token: TokenOpt = None, base_url: BaseUrlOpt = None, destination: DestOpt = None,
    duckdb_path: DuckOpt = None, dataset: DatasetOpt = None, start_date: StartOpt = None,
    end_date: EndOpt = None, channel: ChannelsOpt = None, exclude_channel: ExcludeOpt = None,
    include_private: PrivateOpt = None, exclude_archived: ArchivedOpt = None,
    auto_join: JoinOpt = None, profile: ProfileOpt = None, time_scale: TimeScaleOpt = None,
    lookback_days: LookbackOpt = None, fast: FastOpt = None, shards: ShardsOpt = 4,
    max_concurrency: ConcOpt = 4, shard_deployment: ShardDeplOpt = None,
    retries: RetriesOpt = 3, retry_backoff: BackoffOpt = 10.0, json_path: JsonOpt = None,
    max_retry_wait: MaxRetryWaitOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only warnings from Prefect")] = False,
) -> None:
    _quiet_prefect(quiet)
    if token and shard_deployment:
        fail("--token cannot reach shards run by workers: store the token in a Prefect "
              "Secret block 'slack-token' (or dlt secrets on the workers)", 2)
    _check_server("run", required=bool(shard_deployment))
    params = _parameters(
        base_url=base_url, destination=destination, duckdb_path=duckdb_path, dataset=dataset,
        start_date=start_date, end_date=end_date, channels=channel,
        exclude_channels=exclude_channel, include_private=include_private,
        exclude_archived=exclude_archived, auto_join=auto_join, profile=profile,
        time_scale=time_scale, lookback_days=lookback_days, fast_path=fast, shards=shards,
        max_concurrency=max_concurrency, shard_deployment=shard_deployment, retries=retries,
        retry_backoff_s=retry_backoff, max_retry_wait_s=max_retry_wait)

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


@flow_app.command("serve", help="Serve the flow on a schedule (nightly by default) until "
                  "interrupted; needs a Prefect server (PREFECT_API_URL). Flags become the "
                  "deployment's default parameters; the token is read at each run.")
def serve_cmd(
    cron: Annotated[str, typer.Option("--cron", help="Schedule (cron, UTC)")] = DEFAULT_CRON,
    name: Annotated[str, typer.Option("--name", help="Deployment name")] = "slack_pipeline",
    base_url: BaseUrlOpt = None, destination: DestOpt = None, duckdb_path: DuckOpt = None,
    dataset: DatasetOpt = None, start_date: StartOpt = None, channel: ChannelsOpt = None,
    exclude_channel: ExcludeOpt = None, profile: ProfileOpt = None,
    time_scale: TimeScaleOpt = None, lookback_days: LookbackOpt = None,
    shards: ShardsOpt = 4, max_concurrency: ConcOpt = 4, shard_deployment: ShardDeplOpt = None,
    retries: RetriesOpt = 3, retry_backoff: BackoffOpt = 10.0,
) -> None:
    _quiet_prefect(False)
    params = _parameters(
        base_url=base_url, destination=destination, duckdb_path=duckdb_path, dataset=dataset,
        start_date=start_date, channels=channel, exclude_channels=exclude_channel,
        profile=profile, time_scale=time_scale, lookback_days=lookback_days, shards=shards,
        max_concurrency=max_concurrency, shard_deployment=shard_deployment, retries=retries,
        retry_backoff_s=retry_backoff)

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
    sys.exit(main())
