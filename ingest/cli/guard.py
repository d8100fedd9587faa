"""One-line failures for every command (`slack-ingest ...` and `slack-ingest flow ...`):
user mistakes exit 2, runtime failures 1, Ctrl-C 130; no traceback unless
SLACK_INGEST_DEBUG=1."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from ingest.load.explain import explain

err = Console(stderr=True) if sys.stderr.isatty() else Console(stderr=True, width=400)
T = TypeVar("T")


def fail(message: str, code: int = 2) -> NoReturn:
    # escape: messages name TOML tables such as [sources.slack], which Rich would eat as markup
    err.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)
    raise typer.Exit(code)


def guarded(fn: Callable[[], T]) -> T:
    """Run fn; turn every known failure into one line and an exit code."""
    try:
        return fn()
    except typer.Exit:
        raise
    except KeyboardInterrupt as exc:  # the line says what the run really kept
        fail(explain(exc)[1], 130)
    except Exception as exc:  # noqa: BLE001 - the whole point: no tracebacks for users
        if os.environ.get("SLACK_INGEST_DEBUG"):
            raise
        code, message = explain(exc)
        fail(message, code)
