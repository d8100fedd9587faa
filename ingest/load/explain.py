"""Map any failure (ours, dlt's wrapping of ours, a destination's) to (exit code, one line).

dlt wraps exceptions raised inside resources (ResourceExtractionError inside
PipelineStepFailed), and TaskGroups wrap them in ExceptionGroups, so the cause we want is
found by walking the whole chain.
"""

from __future__ import annotations

from collections.abc import Iterator

from ingest.config.files import toml_read_error
from ingest.slack import (
    SlackAuthError,
    SlackError,
    SlackFatalError,
    SlackMissingScopeError,
    SlackRetryExhaustedError,
)
from ingest.slack.redact import redact
from ingest.source import ConfigError

USER_MISTAKE = 2
#: Where a Slack token may come from (for a line about a rejected token whose origin the
#: caller did not know; `slack-ingest run` names the one it used).
TOKEN_SOURCES = (
    "--token, the SOURCES__SLACK__ACCESS_TOKEN environment variable, "
    "access_token in [sources.slack] of .dlt/secrets.toml, or a flow's Prefect "
    "Secret block"
)
RUNTIME_FAILURE = 1


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes and contexts, wrapped ones (`.exception`, aiohttp's
    `.client_exception`) and group members, each once, breadth first."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop(0)
        if id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        for attr in ("exception", "client_exception", "__cause__", "__context__"):
            nxt = getattr(e, attr, None)
            if isinstance(nxt, BaseException):
                stack.append(nxt)
        for nxt in getattr(e, "exceptions", ()) or ():
            if isinstance(nxt, BaseException):
                stack.append(nxt)


def _job_cause(exc: BaseException) -> BaseException | None:
    """dlt's failed load jobs carry the destination's own exception as client_exception;
    their own text starts with a traceback."""
    for e in exception_chain(exc):
        cause = getattr(e, "client_exception", None)
        if isinstance(cause, BaseException):
            return cause
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return redact(text[0] if text else type(exc).__name__)


INTERRUPTED = 130


def is_out_of_memory(exc: BaseException) -> bool:
    """DuckDB ran out of memory within its memory_limit (anywhere in the exception chain)."""
    return any("Out of Memory Error" in str(_job_cause(e) or e) for e in exception_chain(exc))


def kept_of(exc: BaseException) -> str | None:
    """What the failed load committed ("kept 2,580 messages ... in x.duckdb", or "nothing was
    loaded by this run"), as `ingest.load.run.run_load` attached it; None if not known."""
    for e in exception_chain(exc):
        kept = getattr(e, "ingest_kept", None)
        if isinstance(kept, str):
            return kept
    return None


Explained = tuple[int, str] | None


def _interrupted(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        if isinstance(e, KeyboardInterrupt) or type(e).__name__ == "SignalReceivedException":
            if kept is None:  # stopped outside a load: committed slices stay committed
                return INTERRUPTED, (
                    "interrupted: slices loaded before are kept; run again to continue"
                )
            return INTERRUPTED, f"interrupted: {kept}; run again to continue"
    return None


def _config_mistake(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        if isinstance(e, ConfigError) or type(e).__name__ == "SimulatorConfigError":
            return USER_MISTAKE, _first_line(e)
        if type(e).__name__ == "TomlProviderReadException":  # dlt read a broken .dlt file
            return USER_MISTAKE, toml_read_error(e) or _first_line(e)
    return None


def _slack_mistake(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        if isinstance(e, SlackMissingScopeError):
            return USER_MISTAKE, f"the Slack token lacks a scope: {_first_line(e)}"
        if isinstance(e, SlackAuthError):
            return USER_MISTAKE, (
                f"Slack rejected the token ({e.code}): check where it comes from: {TOKEN_SOURCES}"
            )
        # (SlackConnectionError: the preflight reached the API before the run, so a
        # connection lost later is a runtime failure, below; an unreachable URL at the start
        # is a ConfigError from the preflight.)
        if isinstance(e, SlackFatalError):
            return USER_MISTAKE, _first_line(e)
    return None


def _slack_failure(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        if isinstance(e, SlackRetryExhaustedError | SlackError):
            done = f"; {kept}" if kept else ""
            return RUNTIME_FAILURE, (
                f"Slack request failed: {_first_line(e)}{done}; rerun to continue"
            )
    return None


def _duckdb_locked(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        text = str(e)
        if "Could not set lock on file" in text or "Conflicting lock" in text:
            return RUNTIME_FAILURE, (
                "the DuckDB file is locked by another process; extracted data is kept and "
                "the next run loads it"
            )
    return None


def _duckdb_out_of_memory(chain: list[BaseException], kept: str | None) -> Explained:
    if chain and is_out_of_memory(chain[0]):
        return RUNTIME_FAILURE, (
            "DuckDB ran out of memory within its limit (the load retries at up to 8x "
            "duckdb_memory_limit): raise duckdb_memory_limit (--duckdb-memory-limit or "
            "[slack_ingest] in .dlt/config.toml) or lower slice_rows; extracted data is kept "
            "and the next run loads it"
        )
    return None


def _destination_failure(chain: list[BaseException], kept: str | None) -> Explained:
    for e in chain:
        name = type(e).__name__
        if "Destination" in name or "LoadClient" in name or "Terminal" in name:
            cause = _job_cause(e) or e
            return RUNTIME_FAILURE, (
                f"the destination failed ({type(cause).__name__}: {_first_line(cause)}); "
                "extracted data is kept and the next run loads it"
            )
    return None


def _models_failure(chain: list[BaseException], kept: str | None) -> Explained:
    """dbt failed building the analytics models (after a load, which stays)."""
    for e in chain:
        if type(e).__name__ in ("ModelsError", "ModelsUnavailable"):
            done = f"; {kept}" if kept else ""
            return RUNTIME_FAILURE, f"analytics models not built: {_first_line(e)}{done}"
    return None


#: The explanations, most specific first: the first that recognises a failure (anywhere in
#: its chain) gives its exit code and line.
EXPLANATIONS = (
    _interrupted,
    _models_failure,
    _config_mistake,
    _slack_mistake,
    _slack_failure,
    _duckdb_locked,
    _duckdb_out_of_memory,
    _destination_failure,
)


def explain(exc: BaseException) -> tuple[int, str]:
    chain = list(exception_chain(exc))
    kept = kept_of(exc)
    for rule in EXPLANATIONS:
        found = rule(chain, kept)
        if found is not None:
            return found
    return RUNTIME_FAILURE, f"{type(exc).__name__}: {_first_line(exc)}"
