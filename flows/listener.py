"""The listener as a Prefect flow: `slack-ingest listen` under a deployment.

The flow runs the listener until `stop_after_s` (None: until cancelled). prefect.yaml
schedules it every few minutes with a concurrency limit of one and `CANCEL_NEW`: while a
listener runs the new runs are cancelled, and when it dies (a worker restart, a crash) the
next tick starts a new one, so at most one listener records and a gap lasts minutes (the
nightly run's lookback covers it). The app-level token comes from a Prefect Secret block or
dlt secrets on the worker, never from a parameter.
"""

from __future__ import annotations

from typing import Any

from prefect import flow, get_run_logger

from flows.secrets import get_app_token


@flow(name="slack_listener")
def slack_listener(
    stop_after_s: float | None = None,
    destination: str | None = None,
    duckdb_path: str | None = None,
    dataset: str | None = None,
    journal_path: str | None = None,
    base_url: str | None = None,
) -> dict[str, Any]:
    """Record Slack's events (Socket Mode) in the change journal the pipeline's runs apply.
    Options left unset come from dlt config, as for `slack-ingest listen`."""
    from ingest.config.resolve import resolve_settings, resolve_target
    from ingest.load.listen import listen
    from ingest.source import clean_overrides

    logger = get_run_logger()
    target = resolve_target(
        clean_overrides(
            {
                "destination": destination,
                "duckdb_path": duckdb_path,
                "dataset": dataset,
                "journal_path": journal_path,
            }
        )
    )
    settings = resolve_settings({"base_url": base_url})
    logger.info("listening for Slack events into %s", target.journal_file())

    def status(stats: Any, pending: int) -> None:
        logger.info(
            "recorded %s events (%s redelivered, %s duplicates), %s waiting for the next run",
            stats.recorded,
            stats.redelivered,
            stats.duplicates,
            pending,
        )

    result = listen(get_app_token(), settings, target, stop_after_s=stop_after_s, on_status=status)
    summary = result.as_dict()
    logger.info("listener stopped (%s): %s", result.reason, summary)
    if result.reason == "link_disabled":
        raise RuntimeError(
            "Slack turned Socket Mode off for this app (link_disabled): enable it in the app's "
            "settings"
        )
    return summary
