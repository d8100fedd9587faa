"""Metadata a token may not be allowed to read (files, user groups): skipped with one note.

Files and user groups need scopes (`files:read`, `usergroups:read`) that older installs of
the app lack, and user groups exist only on paid plans. Neither is worth failing a load
over: the rest loads, and the summary says in one true line what was skipped, why, and
how to get it (the scope to add) or how to stop asking (the flag).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from ingest.slack import SlackFatalError, SlackMissingScopeError, SlackRetryExhaustedError
from ingest.source.connect import run_async
from ingest.source.context import SlackContext

T = TypeVar("T")

#: Slack error codes (besides missing_scope) that mean "this workspace or token cannot have
#: it", not "something is broken".
UNAVAILABLE_CODES = frozenset({"paid_teams_only", "paid_only", "not_allowed_token_type"})


def skip_line(what: str, method: str, scope: str, flag: str, exc: SlackFatalError) -> str:
    """The note for a skipped table: what, why, and the two ways out."""
    if isinstance(exc, SlackMissingScopeError):
        why = f"the token lacks the {exc.needed or scope} scope ({method})"
        fix = f"add {exc.needed or scope} to the Slack app and reinstall it"
    else:
        why = f"Slack answered {exc.code} to {method}"
        fix = "nothing to add on this workspace or token"
    return f"{what} skipped: {why}; {fix}, or pass {flag} to stop asking"


def read_optional(
    ctx: SlackContext,
    fetch: Callable[[], Coroutine[Any, Any, T]],
    *,
    what: str,
    method: str,
    scope: str,
    flag: str,
) -> T | None:
    """Run `fetch`; None (with one note) when the token may not read it, None (and the run
    fails at its end, as for users and team) when Slack kept failing."""
    try:
        return run_async(fetch)
    except SlackFatalError as exc:
        if isinstance(exc, SlackMissingScopeError) or exc.code in UNAVAILABLE_CODES:
            ctx.progress.note(skip_line(what, method, scope, flag, exc))
            return None
        raise
    except SlackRetryExhaustedError as exc:
        ctx.failed(exc)
        return None
