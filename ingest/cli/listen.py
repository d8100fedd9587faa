"""`slack-ingest listen`: change capture over Socket Mode, into the change journal."""

from __future__ import annotations

import json
import signal
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import aiohttp
import typer
from rich.console import Console

from ingest.cli.guard import fail, guarded
from ingest.cli.options import pick, with_setting_options
from ingest.load.target import Target
from ingest.source import LoadSettings

AppTokenOpt = Annotated[
    str | None,
    typer.Option(
        "--app-token",
        help="App-level token xapp-... with connections:write (prefer .dlt/secrets.toml "
        "[sources.slack] app_token or SOURCES__SLACK__APP_TOKEN: flags end up in shell "
        "history).",
        show_default=False,
    ),
]


@with_setting_options("listen", LoadSettings, Target)
def listen_command(
    overrides: dict[str, Any],
    app_token: AppTokenOpt = None,
    stop_after: Annotated[
        float | None,
        typer.Option(
            "--stop-after",
            min=0,
            help="Stop after this many seconds [default: run until Ctrl-C or SIGTERM]",
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write what the listener recorded as JSON to this file"),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No status lines")] = False,
) -> None:
    """Record Slack's events (Socket Mode) in the change journal; the next run applies them:
    new replies to threads of any age, edits, deletions, renames, membership."""
    from ingest.config.resolve import (
        resolve_app_token_with_origin,
        resolve_settings,
        resolve_target,
    )
    from ingest.load.listen import listen
    from ingest.slack import SlackAuthError, SlackError
    from ingest.source import check_app_token

    out = Console(highlight=False, soft_wrap=True)
    stop = threading.Event()
    signals: list[int] = []

    def on_signal(signum: int, _frame: Any) -> None:
        signals.append(signum)
        stop.set()

    def status(stats: Any, pending: int) -> None:
        if not quiet:
            out.print(
                f"{time.strftime('%H:%M:%S')} recorded {stats.recorded:,} events "
                f"({stats.redelivered:,} redelivered, {stats.duplicates:,} duplicates), "
                f"{pending:,} waiting for the next run"
            )

    def go() -> Any:
        settings = resolve_settings(pick(overrides, LoadSettings))
        target = resolve_target(pick(overrides, Target))
        raw, origin = resolve_app_token_with_origin(app_token)
        token = check_app_token(raw, origin)
        if json_path is not None and not json_path.expanduser().resolve().parent.is_dir():
            fail(f"--json {json_path}: folder {json_path.parent} does not exist")

        def started(journal: str) -> None:
            if not quiet:
                out.print(
                    f"listening for Slack events (Socket Mode) into {journal}; the next "
                    "`slack-ingest run` applies them. Ctrl-C stops."
                )

        previous = {s: signal.signal(s, on_signal) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            return listen(
                token,
                settings,
                target,
                stop=stop,
                stop_after_s=stop_after,
                on_status=status,
                on_start=started,
            )
        except SlackAuthError as exc:
            fail(f"Slack rejected the app-level token ({exc.code}): check {origin}")
        except SlackError as exc:
            fail(
                f"Slack's Web API at {settings.base_url} could not open a Socket Mode "
                f"connection ({exc.code}): check --base-url and that Socket Mode is on"
            )
        except (aiohttp.ClientError, OSError, ValueError) as exc:
            # (before anything is recorded: the connection never opened)
            fail(
                f"cannot reach Slack's Web API at {settings.base_url} "
                f"({type(exc).__name__}: {exc}): check --base-url"
            )
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    result = guarded(go)
    s = result.stats
    line = (
        f"recorded {s.recorded:,} events ({s.redelivered:,} redelivered, {s.duplicates:,} "
        f"duplicates) over {s.connections:,} connections; {result.pending:,} wait in "
        f"{result.journal} for the next run"
    )
    if json_path is not None:
        json_path.write_text(json.dumps(result.as_dict(), indent=2))
    if result.reason == "link_disabled":
        fail(
            "Slack turned Socket Mode off for this app (link_disabled): enable it in the "
            f"app's settings and start the listener again; {line}",
            1,
        )
    if not quiet:
        out.print(f"stopped: {line}")
    if signal.SIGINT in signals:
        raise typer.Exit(130)
