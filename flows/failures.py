"""Which failures are worth a retry, and the failure hook.

Fatal (no retry, the run fails at once with ingest's one-line explanation): every user
mistake `ingest.load.explain.explain` classifies with exit code 2 (bad or revoked token, missing
scope, ConfigError such as an unknown channel) — except a connection failure, which inside
a task is transient (the flow's preflight already reached the API once).
Everything else (Slack retries exhausted, 5xx storms, a locked DuckDB file, a destination
outage) is retried with exponential backoff and jitter.
"""

from __future__ import annotations

import inspect
import logging
import os
from typing import Any

logger = logging.getLogger("flows")
NOTIFY_BLOCK_ENV = "SLACK_INGEST_NOTIFY_BLOCK"


def is_fatal(exc: BaseException) -> bool:
    from ingest.load.explain import USER_MISTAKE, exception_chain, explain
    from ingest.slack import SlackConnectionError, SlackFatalError

    chain = list(exception_chain(exc))
    if any(isinstance(e, SlackFatalError) for e in chain):
        return True
    if any(isinstance(e, SlackConnectionError) for e in chain):
        return False
    return explain(exc)[0] == USER_MISTAKE


def exception_of(state: Any) -> BaseException | None:
    data = getattr(state, "data", None)
    if isinstance(data, BaseException):
        return data
    try:
        result = state.result(raise_on_failure=False)
    except Exception:  # noqa: BLE001 - a result we cannot read is not an exception to classify
        return None
    return result if isinstance(result, BaseException) else None


def retry_transient(task: Any, task_run: Any, state: Any) -> bool:
    """`retry_condition_fn`: retry unless the failure is fatal."""
    exc = exception_of(state)
    if exc is not None and is_fatal(exc):
        logger.error("not retrying %s: %s", getattr(task_run, "name", "task"), explain_line(exc))
        return False
    return True


def explain_line(exc: BaseException) -> str:
    from ingest.load.explain import explain

    return explain(exc)[1]


def failure_message(run: Any, state: Any) -> str:
    exc = exception_of(state)
    why = explain_line(exc) if exc is not None else (getattr(state, "message", None) or "failed")
    name = getattr(run, "name", "?")
    return f"slack-ingest run {name} failed: {why}"


def notify_failure(flow_or_task: Any, run: Any, state: Any) -> None:
    """`on_failure` hook: one clear line in the logs and, if `SLACK_INGEST_NOTIFY_BLOCK`
    names a notification block (`<block-type-slug>/<name>`, e.g.
    `slack-webhook/ops-alerts`), the same line sent through it."""
    message = failure_message(run, state)
    logger.error(message)
    ref = os.environ.get(NOTIFY_BLOCK_ENV, "").strip()
    if not ref:
        return
    try:
        from prefect.blocks.core import Block
        from prefect.utilities.asyncutils import run_coro_as_sync

        load: Any = Block.load  # `_sync=True`: Prefect's dispatch keyword, unseen by mypy
        block = load(ref, _sync=True)
        sent = block.notify(body=message, subject="slack-ingest run failed")
        if inspect.iscoroutine(sent):
            run_coro_as_sync(sent)
    except Exception as exc:  # noqa: BLE001 - a broken notifier must not mask the failure
        logger.error("could not notify through block %s: %s", ref, type(exc).__name__)
