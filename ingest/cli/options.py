"""Command-line options shared by `slack-ingest run` and `slack-ingest flow run`, derived
from the settings schema (`ingest.source.settings`): each setting's flag, help text and
type are declared once, on its dataclass field, and `with_setting_options` turns the fields
into typer options.

How: typer reads a command's options from `inspect.signature(command)`, so the decorator
builds one `inspect.Parameter` per field (`Annotated[T | None, typer.Option(*flags,
help=...)]`), merges them with the command's own options (--token, --json, --quiet, ...)
and sets the wrapper's `__signature__`. The command itself receives the settings as one
mapping, `overrides` (field name -> value, only the flags given; `pick` splits it per
schema).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Annotated, Any

import typer

from ingest.source import SchemaField, schema_fields

TokenOpt = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Slack token (prefer .dlt/secrets.toml or SOURCES__SLACK__ACCESS_TOKEN: flags end up in shell history).",
        show_default=False,
    ),
]
JsonOpt = Annotated[
    Path | None, typer.Option("--json", help="Write the run summary as JSON to this file")
]

#: Where a command's own options go among the settings' (`Setting.cli` positions), so
#: `--help` lists them as it always has: --token first, --json before the DuckDB memory
#: cap, --quiet last. Options not named here follow the settings.
OWN_POSITIONS = {
    "cron": -2.0,
    "name": -1.0,
    "token": 0.0,
    "app_token": 0.1,
    "json_path": 17.0,
    "quiet": 99.0,
}
#: The parameter of a decorated command that receives the settings given as flags.
OVERRIDES = "overrides"


def option_fields(command: str, schemas: Iterable[type]) -> list[SchemaField]:
    """The schema fields that are flags of `command` ("run", "flow run", "flow serve")."""
    return [
        f
        for cls in schemas
        for f in schema_fields(cls)
        if f.setting.flags and f.setting.cli is not None and command in f.setting.commands
    ]


def option_parameter(f: SchemaField) -> inspect.Parameter:
    """A field as a typer option. A config-resolved setting defaults to None (unset: config
    applies), so `--help` shows the default its help text states; a flow-run option
    defaults to the field's own default (shown by typer)."""
    s = f.setting
    extra: dict[str, Any] = {} if s.min is None else {"min": s.min}
    option = typer.Option(*s.flags, help=s.help, **extra)
    if s.config:
        return inspect.Parameter(
            f.name,
            inspect.Parameter.KEYWORD_ONLY,
            default=None,
            annotation=Annotated[f.kind | None, option],
        )
    return inspect.Parameter(
        f.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=f.default,
        annotation=Annotated[f.kind, option],
    )


def with_setting_options(
    command: str, *schemas: type
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Decorate a typer command `fn(overrides, **own_options)`: its settings options are the
    `schemas`' fields flagged for `command`; `overrides` receives the ones given (None =
    not given) as {field name: value}."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        own = [
            p.replace(kind=inspect.Parameter.KEYWORD_ONLY)
            for name, p in inspect.signature(fn, eval_str=True).parameters.items()
            if name != OVERRIDES
        ]
        fields = option_fields(command, schemas)
        names = {f.name for f in fields}
        ranked = [(float(f.setting.cli or 0), option_parameter(f)) for f in fields]
        ranked += [(OWN_POSITIONS.get(p.name, 1000.0), p) for p in own]
        ranked.sort(key=lambda pair: pair[0])  # stable: ties keep declaration order

        @functools.wraps(fn, assigned=("__module__", "__name__", "__qualname__", "__doc__"))
        def command_fn(**kwargs: Any) -> Any:
            overrides = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
            return fn(overrides, **kwargs)

        command_fn.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
            [p for _, p in ranked]
        )
        del command_fn.__wrapped__  # typer and inspect read __signature__ alone
        command_fn.__annotations__ = {}  # (the types are in the signature, evaluated)
        return command_fn

    return decorate


def pick(values: Mapping[str, Any], schema: type) -> dict[str, Any]:
    """The entries of `values` that are fields of `schema` (LoadSettings, Target, ...)."""
    names = {f.name for f in schema_fields(schema)}
    return {k: v for k, v in values.items() if k in names}
