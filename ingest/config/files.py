"""One line for a `.dlt/*.toml` file that does not parse: the file, the line and the cause.

dlt reports a broken TOML file as "A problem encountered when loading secrets.toml from
paths [...]:" with the parser's message on a chained exception; this finds the file and
says what is wrong where. Kept free of dlt imports (ingest.load.explain uses it).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Iterable, Iterator

_AT = re.compile(r"^(?P<cause>.*?)\s*\(at line (?P<line>\d+), column (?P<col>\d+)\)\s*$")
_AT_TOMLKIT = re.compile(r"^(?P<cause>.*?)\s+at line (?P<line>\d+) col (?P<col>\d+)\s*$")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__ or exc.__context__  # type: ignore[assignment]


def _display(path: str) -> str:
    return os.path.normpath(path)


def syntax_error_of(path: str) -> str | None:
    """'FILE, line L, column C: cause' if the file exists and is not valid TOML."""
    try:
        with open(path, "rb") as f:
            tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        text = str(exc)
        m = _AT.match(text)
        if m:
            return f"{_display(path)}, line {m['line']}, column {m['col']}: {m['cause']}"
        located = _tomlkit_location(path)  # e.g. "(at end of document)": find the line
        if located is not None:
            return f"{_display(path)}, {located}"
        return f"{_display(path)}: {text}"
    except (OSError, UnicodeDecodeError) as exc:
        return (
            None
            if isinstance(exc, FileNotFoundError | IsADirectoryError)
            else (f"{_display(path)}: {type(exc).__name__}: {exc}")
        )
    return None


def _tomlkit_location(path: str) -> str | None:
    """'line L, column C: cause' from tomlkit (dlt's parser), which locates some errors
    tomllib only places "at end of document" (an unterminated string...)."""
    try:
        import tomlkit

        with open(path, encoding="utf-8") as f:
            tomlkit.parse(f.read())
    except Exception as exc:  # noqa: BLE001 - tomlkit's ParseError and anything odd
        line, col = getattr(exc, "line", None), getattr(exc, "col", None)
        if line is None or col is None:
            return None
        m = _AT_TOMLKIT.match(str(exc).strip().splitlines()[0])
        cause = m["cause"] if m else type(exc).__name__
        return f"line {line}, column {col}: {cause}"
    return None


def toml_read_error(exc: BaseException) -> str | None:
    """The one line for dlt's TomlProviderReadException (anywhere in exc's chain), else
    None."""
    for e in _chain(exc):
        if type(e).__name__ != "TomlProviderReadException":
            continue
        paths: Iterable[str] = getattr(e, "full_paths", None) or ()
        for path in paths:
            found = syntax_error_of(path)
            if found:
                return f"cannot read {found} (TOML syntax error)"
        # the file could not be found again: use the parser's own words
        cause = e.__cause__ or e.__context__
        name = getattr(e, "file_name", "the TOML file")
        text = str(cause).strip().splitlines()[0] if cause is not None else ""
        m = _AT_TOMLKIT.match(text)
        if m:
            return (
                f"cannot read .dlt/{name}, line {m['line']}, column {m['col']}: "
                f"{m['cause']} (TOML syntax error)"
            )
        return f"cannot read .dlt/{name}: {text or 'not valid TOML'}"
    return None
