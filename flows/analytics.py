"""The flow's last step: build the analytics models (dbt) after a load that finished, and
publish what they found as a Markdown artifact (`slack-ingest-analytics-<dataset>`)."""

from __future__ import annotations

from contextlib import nullcontext
from typing import Any

from prefect import task

from flows.artifacts import artifact_key
from flows.concurrency import load_lock
from ingest.load.target import Target


@task(name="build_models", retries=0)
def build_models_task(target: Target) -> dict[str, Any]:
    """Build the models under the DuckDB writer lock (dbt writes the same file); a failed
    build fails the task (the load before it stays committed)."""
    from prefect import get_run_logger
    from prefect.artifacts import create_markdown_artifact

    from ingest.analytics.after_load import build_after_load
    from ingest.analytics.figures import figures_markdown, summary_lines

    logger = get_run_logger()
    lock = load_lock(target)
    with lock() if lock is not None else nullcontext():
        outcome = build_after_load(target)
    if outcome.skipped is not None:
        if target.models != "no":
            logger.info("analytics models not built: %s", outcome.skipped)
        return {"skipped": outcome.skipped}
    build, figures = outcome.build, outcome.figures
    assert build is not None and figures is not None
    lines = summary_lines(figures)
    for line in lines:
        logger.info("analytics: %s", line)
    create_markdown_artifact(
        key=artifact_key("analytics", target),
        markdown=figures_markdown(figures),
        description=f"What the analytics models ({build.dataset}) found",
    )
    return {
        "dataset": build.dataset,
        "seconds": round(build.seconds, 3),
        "rows": dict(build.models),
        "found": lines,
    }
