"""slack-ingest: the command line. Thin over ingest.load.run and ingest.simulator.

User mistakes exit with code 2 and one line on stderr; runtime failures exit 1 with one
line; nothing prints a traceback unless SLACK_INGEST_DEBUG=1.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.live import Live

from ingest.cli.analytics import report_command
from ingest.cli.guard import err, fail, guarded
from ingest.cli.listen import listen_command
from ingest.cli.options import JsonOpt, TokenOpt, pick, with_setting_options
from ingest.cli.report import progress_panel, summary_tables, workspaces_table
from ingest.load.target import Target
from ingest.source import LoadSettings

app = typer.Typer(
    help="Load a Slack workspace (channels, users, members, history, thread replies) into a "
    "warehouse with dlt, fast and exactly.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)

# Piped output (CI logs, files) gets a wide console so tables do not truncate method names.
out = Console() if sys.stdout.isatty() else Console(width=160)


@app.callback()
def _setup(
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Log retries, 429s and budget changes to stderr")
    ] = False,
) -> None:
    """Retries and 429s are counted in the summary; with --verbose they are logged too."""
    logger = logging.getLogger("ingest")
    if verbose:
        from rich.logging import RichHandler

        logger.addHandler(RichHandler(console=err, show_path=False))
        logger.setLevel(logging.INFO)
    else:
        logger.addHandler(logging.NullHandler())
        logger.propagate = False
        # dlt logs failed jobs with tracebacks; our one line says what happened
        os.environ["RUNTIME__LOG_LEVEL"] = "CRITICAL"  # (--verbose keeps dlt's logs)
    # Ctrl-C must stop the run (dlt would otherwise defer or swallow it during a load).
    os.environ.setdefault("RUNTIME__INTERCEPT_SIGNALS", "false")


def _run_with_display(
    run: Callable[[Any], Any], quiet: bool, time_scale: float = 1.0, progress: Any = None
) -> Any:
    from ingest.source import LoadProgress

    progress = progress or LoadProgress()
    if quiet or not out.is_terminal:
        return run(progress)
    with Live(
        get_renderable=lambda: progress_panel(progress, time_scale),
        console=out,
        refresh_per_second=4,
        transient=True,
    ):
        return run(progress)


def check_json_path(json_path: Path | None) -> None:
    """--json is written after the load: check its folder before anything runs."""
    if json_path is not None and not json_path.expanduser().resolve().parent.is_dir():
        fail(f"--json {json_path}: folder {json_path.parent} does not exist")


def _print_summary(
    result: Any, json_path: Path | None, extra: dict[str, Any] | None = None
) -> None:
    # names of the channels the load's own plan listed (progress.channel_names)
    for table in summary_tables(result, result.progress.get("channel_names")):
        out.print(table)
    if getattr(result, "teams", None):
        out.print(workspaces_table(result.teams))
    if json_path is not None:
        doc = result.as_dict() | (extra or {})
        json_path.write_text(json.dumps(doc, indent=2, default=str))
        out.print(f"summary written to {json_path}")


@app.command()
@with_setting_options("run", LoadSettings, Target)
def run(
    overrides: dict[str, Any],
    token: TokenOpt = None,
    json_path: JsonOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live progress display")] = False,
) -> None:
    """Load the workspace into the destination (incremental: each run continues from the last)."""
    from ingest.config.resolve import (
        resolve_pii_salt,
        resolve_settings,
        resolve_target,
        resolve_token_with_origin,
    )
    from ingest.load.dataset_states import seed_states_if_readable
    from ingest.load.preflight import preflight
    from ingest.load.run import check_target, run_load
    from ingest.source import check_token

    check_json_path(json_path)

    from ingest.analytics.after_load import check_models

    def go() -> Any:
        settings = resolve_settings(pick(overrides, LoadSettings))
        # --pii hash without a salt: exit 2 before anything is read (the load reads the
        # salt from the same dlt providers itself: it is never passed around or printed)
        resolve_pii_salt(settings)
        target = check_target(resolve_target(pick(overrides, Target)))
        check_models(target)
        targets.append(target)
        # the line for a bad token names where it came from (flag, environment, file)
        raw, origin = resolve_token_with_origin(token)
        tok = check_token(raw, origin)
        try:
            info = preflight(tok, settings, token_origin=origin)
        except Exception as exc:  # before the load: say so in the failure line
            exc.ingest_kept = "nothing was loaded by this run"  # type: ignore[attr-defined]
            raise
        org, teams = info["org"], info["teams"]
        if org is not None and len(teams) > 1:  # Enterprise Grid: every workspace at once
            from ingest.load.org import OrgProgress, run_org

            out.print(
                f"org {org.name} ({org.enterprise_id}): loading {len(teams)} workspaces at "
                f"once: {', '.join(teams)}",
                highlight=False,
                soft_wrap=True,
            )
            return _run_with_display(
                lambda p: run_org(
                    tok,
                    settings,
                    target,
                    org,
                    teams,
                    progress=p,
                    seed_states=seed_states_if_readable(target, p),
                ),
                quiet,
                settings.time_scale,
                OrgProgress(),
            )
        if org is not None:  # one workspace of an org
            settings = settings.replace(team_ids=teams)
        # cursors committed by the flow's shard pipelines too: a plain run after flow runs
        # continues each channel where any pipeline of the dataset stopped
        return _run_with_display(
            lambda p: run_load(
                tok, settings, target, progress=p, seed_states=seed_states_if_readable(target, p)
            ),
            quiet,
            settings.time_scale,
        )

    targets: list[Target] = []
    result = guarded(go)
    _print_summary(result, json_path)
    models_after_load(targets[0])


def models_after_load(target: Target) -> None:
    """Build the analytics models after a load that finished (`--models`), and print what
    they found; a failed build exits 1, saying the load was kept."""
    from ingest.analytics.after_load import build_after_load
    from ingest.analytics.figures import summary_lines

    def go() -> Any:
        try:
            return build_after_load(target)
        except Exception as exc:
            exc.ingest_kept = "the load finished and is kept"  # type: ignore[attr-defined]
            raise

    outcome = guarded(go)
    if outcome.skipped is not None:
        if target.models != "no":
            out.print(f"analytics models not built: {outcome.skipped}", highlight=False)
        return
    build = outcome.build
    rows = ", ".join(f"{name} {n:,}" for name, n in build.models.items())
    out.print(
        f"analytics models built in {build.seconds:.1f} s into dataset {build.dataset} "
        f"(rows: {rows})",
        highlight=False,
        soft_wrap=True,
    )
    for line in summary_lines(outcome.figures):
        out.print(f"  {line}", highlight=False, soft_wrap=True)


@app.command()
def demo(
    size: Annotated[
        str, typer.Option(help="Simulated workspace size: tiny, small, medium, large")
    ] = "small",
    seed: Annotated[int, typer.Option(help="Workspace seed")] = 7,
    duckdb_path: Annotated[
        Path, typer.Option("--duckdb-path", help="DuckDB file to load into")
    ] = Path("demo.duckdb"),
    profile: Annotated[
        str, typer.Option(help="Rate-limit profile the simulator enforces")
    ] = "internal",
    time_scale: Annotated[float, typer.Option(help="Slack minutes per real second")] = 60.0,
    json_path: JsonOpt = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q")] = False,
    models: Annotated[
        str,
        typer.Option(
            "--models",
            help="Build the analytics models after the load: auto (when dbt is installed), "
            "yes, or no",
        ),
    ] = "auto",
) -> None:
    """Start a simulated workspace in-process, load it into DuckDB, check it against the
    truth, and build the analytics models."""
    from ingest.analytics.after_load import check_models
    from ingest.load.run import Target, check_target, run_load
    from ingest.load.verify import compare_with_truth
    from ingest.simulator import SimulatorThread, Workspace
    from ingest.source import LoadSettings

    def go() -> Any:
        ws = Workspace.generate(size=size, seed=seed)
        target = check_target(Target(duckdb_path=str(duckdb_path), models=models))
        check_models(target)
        with SimulatorThread(ws, profile=profile, time_scale=time_scale) as sim:
            out.print(
                f"simulator: {size} workspace (seed {seed}) at {sim.base_url}, "
                f"profile {profile}, time scale {time_scale}x"
            )
            settings = LoadSettings(
                base_url=sim.base_url, profile=profile, time_scale=time_scale, lookback_days=36500
            ).validate()
            result = _run_with_display(
                lambda p: run_load(ws.token, settings, target, progress=p), quiet, time_scale
            )
            sim_stats = sim.stats()
        check = compare_with_truth(target, ws.truth())
        return result, check, sim_stats

    result, check, sim_stats = guarded(go)
    _print_summary(result, json_path, {"truth_check": check, "simulator": sim_stats["totals"]})
    verdict = "[green]exactly matches[/]" if check["ok"] else "[red]DIFFERS FROM[/]"
    out.print(
        f"destination {duckdb_path} {verdict} the simulator's truth: "
        f"{check['messages']['loaded']} messages, {check['channels']['loaded']} channels, "
        f"{check['users']['loaded']} users, {check['members']['loaded']} memberships; "
        f"429s from Slack: {sim_stats['totals'].get('n_429', 0)}",
        soft_wrap=True,
    )
    if not check["ok"]:
        raise typer.Exit(1)
    models_after_load(Target(duckdb_path=str(duckdb_path), models=models))


@app.command()
def simulate(
    host: Annotated[
        str, typer.Option(help="Interface to bind (loopback by default)")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port (0 = any free port)")] = 8765,
    size: Annotated[str, typer.Option(help="tiny, small, medium or large")] = "small",
    seed: Annotated[int, typer.Option(help="Workspace seed")] = 0,
    profile: Annotated[
        str, typer.Option(help="internal, marketplace, unlisted or unlimited")
    ] = "internal",
    time_scale: Annotated[float, typer.Option(help="Slack minutes per real second")] = 1.0,
    latency_ms: Annotated[float, typer.Option(help="Added latency per response")] = 0.0,
    faults: Annotated[str, typer.Option(help="Fault spec, e.g. 'http500=0.02,reset=0.01'")] = "",
    token: Annotated[
        str | None, typer.Option(help="Token the simulator accepts [default: generated]")
    ] = None,
    app_token: Annotated[
        str | None,
        typer.Option(help="App-level token for Socket Mode (xapp-...) [default: generated]"),
    ] = None,
    socket_refresh: Annotated[
        float | None,
        typer.Option(
            "--socket-refresh",
            metavar="SECONDS",
            help="Ask Socket Mode clients to reconnect every SECONDS [default: never]",
        ),
    ] = None,
    org: Annotated[
        int | None,
        typer.Option(
            "--org",
            metavar="N",
            help="Serve an Enterprise Grid org of N workspaces (org-wide token; --size unused)",
        ),
    ] = None,
    org_sizes: Annotated[
        str | None,
        typer.Option(
            "--org-sizes",
            metavar="SIZES",
            help="Workspace sizes of the org, cycled, e.g. small,tiny "
            "(default: small,tiny,small,tiny,tiny,small,tiny,tiny)",
        ),
    ] = None,
) -> None:
    """Serve a simulated Slack workspace (or an org, --org) at http://HOST:PORT/api/<method>
    until interrupted."""
    from ingest.simulator.main import run_simulator_cli

    guarded(
        lambda: run_simulator_cli(
            host=host,
            port=port,
            size=size,
            seed=seed,
            profile=profile,
            time_scale=time_scale,
            latency_ms=latency_ms,
            faults=faults,
            token=token,
            app_token=app_token,
            socket_refresh_s=socket_refresh,
            org=org,
            org_sizes=org_sizes,
        )
    )


def _redeliver_swallowed_interrupt(unraisable: Any) -> None:
    """Ctrl-C landing inside a weakref or finalizer callback is swallowed by Python with an
    "Exception ignored" traceback. Send it again instead, so the run still stops with its
    one line."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        os.kill(os.getpid(), signal.SIGINT)
        return
    sys.__unraisablehook__(unraisable)


def main() -> None:
    """The ingest layer's commands alone (the `slack-ingest` script is slack_ingest.cli:main,
    which adds the flow commands on top)."""
    sys.unraisablehook = _redeliver_swallowed_interrupt
    app()


app.command("listen")(listen_command)
app.command("report")(report_command)
