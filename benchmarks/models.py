"""`models`: what the analytics models cost after a load.

One backfill of `medium` (quick: `small`) into DuckDB through `run_load` (simulator in its
own process, profile `unlimited`: the load is bound by our own work, not Slack's budget),
then, on the same file, side by side: the models built cold (the first dbt build: parse and
process start-up included), built again (dbt reuses its parse), built again without dbt's
tests, the figures read back and the HTML report rendered. Ratios are against the load's
own wall, measured in the same run; the row counts are checked against the models' own
tables.
"""

from __future__ import annotations

import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks.common import ratio
from benchmarks.simproc import SimProcess

SIZES = {False: "medium", True: "small"}
SEED = 0


def measure(size: str, workdir: Path) -> dict[str, Any]:
    from ingest.analytics.build import build_models
    from ingest.analytics.figures import read_figures
    from ingest.analytics.report import render_report
    from ingest.load.run import Target, make_pipeline, run_load
    from ingest.source import LoadSettings

    target = Target(
        duckdb_path=str(workdir / "models.duckdb"),
        dataset="slack",
        pipelines_dir=str(workdir / "pipelines"),
        journal_path=str(workdir / "no-journal.sqlite"),
    )
    with SimProcess(size, seed=SEED, profile="unlimited") as sim:
        settings = LoadSettings(
            base_url=sim.base_url, profile="unlimited", lookback_days=36500.0
        ).validate()
        started = time.perf_counter()
        run_load(sim.token, settings, target)
        load_s = time.perf_counter() - started
        messages = sim.messages
    pipeline = make_pipeline(target)
    builds: dict[str, dict[str, Any]] = {}
    for name, tests in (("cold", True), ("warm", True), ("warm_no_tests", False)):
        started = time.perf_counter()
        build = build_models(pipeline, run_tests=tests)
        builds[name] = {
            "wall_s": round(time.perf_counter() - started, 3),
            "rows": dict(build.models),
            "tests": len(build.tests),
        }
    started = time.perf_counter()
    figures = read_figures(pipeline, "slack_analytics")
    read_s = time.perf_counter() - started
    started = time.perf_counter()
    page = render_report(figures, title="benchmark", generated_at=datetime.now(UTC))
    render_s = time.perf_counter() - started
    return {
        "size": size,
        "messages": messages,
        "load_wall_s": round(load_s, 3),
        "builds": builds,
        "read_figures_s": round(read_s, 3),
        "render_report_s": round(render_s, 3),
        "report_bytes": len(page.encode()),
        "cold_build_vs_load": ratio(builds["cold"]["wall_s"], load_s, 3),
        "warm_build_vs_load": ratio(builds["warm"]["wall_s"], load_s, 3),
        "tests_share_of_warm_build": ratio(
            builds["warm"]["wall_s"] - builds["warm_no_tests"]["wall_s"],
            builds["warm"]["wall_s"],
            3,
        ),
    }


def run(quick: bool) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-models-") as tmp:
        return measure(SIZES[quick], Path(tmp))
