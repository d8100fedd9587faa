"""`slack-ingest report`: build the analytics models (dbt) and write one HTML page of them."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console

from ingest.cli.guard import fail, guarded
from ingest.cli.options import pick, with_setting_options
from ingest.load.target import Target
from ingest.source import schema_fields, setting

#: The `Target` settings `report` takes as flags (where the loaded dataset is).
REPORT_TARGET_FIELDS = ("destination", "duckdb_path", "dataset")
DEFAULT_OUTPUT = Path("slack_report.html")


def _report_target() -> type:
    """The destination, DuckDB file and dataset flags of `run`, for `report`: a copy of
    those `Target` fields (flags, help, positions) flagged for the command "report", so
    `with_setting_options` builds them as it does for `run`."""
    import dataclasses

    fields = [
        (
            f.name,
            f.type,
            setting(
                f.default,
                help=f.setting.help,
                flag=f.setting.flags,
                cli=f.setting.cli,
                commands=("report",),
            ),
        )
        for f in schema_fields(Target)
        if f.name in REPORT_TARGET_FIELDS
    ]
    return dataclasses.make_dataclass("ReportTarget", fields, frozen=True)


ReportTarget = _report_target()


def _describe(target: Target) -> str:
    if target.destination == "duckdb":
        return f"{Path(target.duckdb_path).name}, dataset {target.dataset}"
    return f"dataset {target.dataset} ({target.destination})"


@with_setting_options("report", ReportTarget)
def report_command(
    overrides: dict[str, Any],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="HTML file to write", metavar="PATH")
    ] = DEFAULT_OUTPUT,
    build: Annotated[
        bool,
        typer.Option(
            "--build/--no-build",
            help="Build the analytics models (dbt, into the dataset <dataset>_analytics) "
            "before reading them; --no-build reads the models built last",
        ),
    ] = True,
    oldest: Annotated[
        int,
        typer.Option("--oldest", metavar="N", help="List the N oldest unanswered questions"),
    ] = 20,
) -> None:
    """Write an HTML report of the loaded workspace: weekly activity per channel, time to
    first reply, the oldest unanswered questions (one self-contained page)."""
    from ingest.analytics.build import (
        ModelsError,
        ModelsUnavailable,
        analytics_dataset_name,
        build_models,
    )
    from ingest.analytics.figures import FiguresUnavailable, read_figures, summary_lines
    from ingest.analytics.report import render_report
    from ingest.config.resolve import resolve_target
    from ingest.load.run import check_target, make_pipeline
    from ingest.load.target import describe_target, duckdb_file_missing

    out = Console(highlight=False, soft_wrap=True)

    def go() -> tuple[Path, list[str], str]:
        if oldest < 0:
            fail(f"--oldest {oldest}: must be 0 or more")
        path = output.expanduser()
        if path.is_dir():
            fail(f"--output {output} is a folder: name the HTML file to write")
        if not path.resolve().parent.is_dir():
            fail(f"--output {output}: folder {output.parent} does not exist")
        target = resolve_target(pick(overrides, Target))
        if duckdb_file_missing(target):
            fail(
                f"--duckdb-path {target.duckdb_path}: no such DuckDB file (load one with "
                "`slack-ingest run` or `slack-ingest demo`)"
            )
        target = check_target(target)
        pipeline = make_pipeline(target)
        with pipeline.sql_client() as client:
            loaded = client.has_dataset()
        if not loaded:
            fail(
                f"--dataset {target.dataset}: no such dataset in {describe_target(target)} "
                "(load it first with `slack-ingest run`)"
            )
        analytics = analytics_dataset_name(target.dataset)
        built = ""
        if build:
            try:
                result = build_models(pipeline, analytics_dataset=analytics)
            except ModelsUnavailable as exc:
                fail(f"{exc} (--no-build reads models built before)")
            except ModelsError as exc:  # (one line naming the failing model)
                fail(str(exc), 1)
            built = f"; {len(result.models)} models built in {result.seconds:.1f}s"
        try:
            fig = read_figures(pipeline, analytics, oldest=oldest)
        except FiguresUnavailable as exc:
            hint = "drop --no-build to build them" if not build else "check the build"
            where = target.duckdb_path if target.destination == "duckdb" else target.destination
            fail(
                f"no analytics models for dataset {target.dataset} in {where} (no table "
                f"{analytics}.{exc.table}): {hint}"
            )
        page = render_report(
            fig,
            title=f"Slack workspace report: {_describe(target)}",
            generated_at=datetime.now(UTC),
        )
        try:
            path.write_text(page, encoding="utf-8")
        except OSError as exc:
            fail(f"--output {output}: cannot write ({exc.strerror or exc})")
        return path, summary_lines(fig), f"from {analytics}{built}"

    path, lines, origin = guarded(go)
    out.print(f"report written to {path} ({origin})", markup=False)
    for line in lines:
        out.print(f"  {line}", markup=False)
