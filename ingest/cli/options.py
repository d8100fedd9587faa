"""Command-line options shared by `slack-ingest run` and `slack-ingest flow run`: one place
for the flags and their help, so both commands take the same ones."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

TokenOpt = Annotated[str | None, typer.Option("--token", help="Slack token (prefer .dlt/secrets.toml or SOURCES__SLACK__ACCESS_TOKEN: flags end up in shell history).", show_default=False)]
BaseUrlOpt = Annotated[str | None, typer.Option("--base-url", help="Slack Web API base URL [default: https://slack.com/api/]")]
DestOpt = Annotated[str | None, typer.Option("--destination", help="dlt destination: duckdb, bigquery, or any dlt destination name [default: duckdb]")]
DuckOpt = Annotated[str | None, typer.Option("--duckdb-path", help="DuckDB file [default: slack_ingest.duckdb]")]
DuckMemOpt = Annotated[str | None, typer.Option("--duckdb-memory-limit", help="DuckDB's memory cap for the load step, e.g. 32MB, 1GB, or 'default' (80% of RAM); raised 2x (up to 8x) when a load runs out of memory [default: 32MB]")]
DatasetOpt = Annotated[str | None, typer.Option("--dataset", help="Dataset (schema) name [default: slack]")]
StartOpt = Annotated[str | None, typer.Option("--start-date", help="Load history from this date (YYYY-MM-DD or ISO datetime, UTC) [default: the beginning]")]
EndOpt = Annotated[str | None, typer.Option("--end-date", help="Load history up to this date (a backfill window) [default: now]")]
ChannelsOpt = Annotated[list[str] | None, typer.Option("--channel", "-c", help="Channel id or name to load (repeatable) [default: all the token can read]")]
ExcludeOpt = Annotated[list[str] | None, typer.Option("--exclude-channel", help="Channel id or name to skip (repeatable)")]
PrivateOpt = Annotated[bool | None, typer.Option("--include-private/--no-private", help="Include private channels the token is in [default: include]")]
ArchivedOpt = Annotated[bool | None, typer.Option("--exclude-archived/--include-archived", help="Skip archived channels [default: include]")]
JoinOpt = Annotated[bool | None, typer.Option("--auto-join/--no-auto-join", help="Join public channels the bot is not in (needs channels:join) [default: no]")]
ProfileOpt = Annotated[str | None, typer.Option("--profile", help="Rate-limit profile: internal, marketplace, unlisted, unlimited [default: internal]")]
TimeScaleOpt = Annotated[float | None, typer.Option("--time-scale", help="Rate budgets run this many times faster (for the simulator) [default: 1]")]
LookbackOpt = Annotated[float | None, typer.Option("--lookback-days", help="Re-read this many days of history for edits and new thread replies [default: 7]")]
FastOpt = Annotated[bool | None, typer.Option("--fast/--relational", help="Arrow fast path (nested fields as JSON) or dlt's relational child tables [default: fast]")]
JsonOpt = Annotated[Path | None, typer.Option("--json", help="Write the run summary as JSON to this file")]
MaxRetryWaitOpt = Annotated[float | None, typer.Option("--max-retry-wait", help="Seconds each Slack call retries 5xx, dropped connections and 429s before the run loads what it fetched and stops with exit 1 (Slack time: divided by --time-scale) [default: 600]")]
