"""Flow parameters <-> the ingest layer's settings, and the flow's own run options.

Tasks and deployments carry only plain, non-secret data: `LoadSettings` and `Target` as
dicts (JSON-safe, so Prefect can store them as parameters). The token never travels: each
task reads it where it runs (flows.secrets).

`FlowOptions` is the third settings schema (beside `LoadSettings` and `Target`, see
`ingest.source.settings`): how a flow run shards and retries. Its fields become flags of
`flow run`/`flow serve` and parameters of `slack_pipeline` like the others; they are not
read from dlt config, so their flags default to the fields' defaults.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from ingest.load.target import Target
from ingest.source import ConfigError, LoadSettings, clean_overrides, schema_fields, setting

RETRIES = 3
DEFAULT_BACKOFF_S = 10.0
FLOW_COMMANDS = ("flow run", "flow serve")


@dataclass(frozen=True)
class FlowOptions:
    """How a flow run shards channel history and retries its tasks."""

    shards: int = setting(
        4,
        flag="--shards",
        cli=16.1,
        flow=3,
        min=1,
        config=False,
        commands=FLOW_COMMANDS,
        help="Channel-history shards (one dlt pipeline each, one dataset)",
    )
    max_concurrency: int = setting(
        4,
        flag="--max-concurrency",
        cli=16.2,
        flow=4,
        min=1,
        config=False,
        commands=FLOW_COMMANDS,
        help="Shards running at once (with --shard-deployment: the Prefect tag concurrency "
        "limit 'slack-history')",
    )
    shard_deployment: str | None = setting(
        None,
        flag="--shard-deployment",
        cli=16.3,
        flow=18,
        config=False,
        commands=FLOW_COMMANDS,
        help="Run shards as flow runs of this deployment (e.g. slack_shard/slack-shard) so any "
        "worker picks them up",
    )
    retries: int = setting(
        RETRIES,
        flag="--retries",
        cli=16.4,
        flow=19,
        min=0,
        config=False,
        commands=FLOW_COMMANDS,
        help="Retries of a task after a transient failure (exponential backoff with jitter)",
    )
    retry_backoff_s: float = setting(
        DEFAULT_BACKOFF_S,
        flag="--retry-backoff",
        cli=16.5,
        flow=20,
        config=False,
        commands=FLOW_COMMANDS,
        help="First retry delay in seconds (then x2, x4, ...)",
    )

    workspace_deployment: str | None = setting(
        None,
        flag="--workspace-deployment",
        cli=16.35,
        flow=32,
        config=False,
        commands=FLOW_COMMANDS,
        help="Enterprise Grid: run each workspace of the org as a flow run of this deployment "
        "(e.g. slack_pipeline/slack-workspace) so workers load them in parallel [default: "
        "one after another in this run]",
    )

    def validate(self) -> FlowOptions:
        if self.shards < 1 or self.max_concurrency < 1 or self.retries < 0:
            raise ConfigError("shards and max concurrency must be >= 1, retries >= 0")
        return self


#: The schemas whose fields are `slack_pipeline`'s parameters.
FLOW_SCHEMAS: tuple[type, ...] = (LoadSettings, Target, FlowOptions)


def settings_to_params(settings: LoadSettings) -> dict[str, Any]:
    out = dataclasses.asdict(settings)
    for key, value in out.items():  # lists (JSON) for tuples: channels, team_ids, ...
        if isinstance(value, tuple):
            out[key] = list(value)
    return out


def settings_from_params(params: dict[str, Any]) -> LoadSettings:
    return LoadSettings.from_mapping(dict(params))


def target_to_params(target: Target) -> dict[str, Any]:
    return dataclasses.asdict(target)


def target_from_params(params: dict[str, Any]) -> Target:
    known = {f.name for f in dataclasses.fields(Target)}
    unknown = sorted(set(params) - known)
    if unknown:
        raise ConfigError(f"unknown target field(s): {', '.join(unknown)}")
    return Target(**{k: v for k, v in params.items() if v is not None})


def split_params(params: dict[str, Any]) -> dict[type, dict[str, Any]]:
    """Flow parameters (or CLI overrides) per schema: {LoadSettings: {...}, Target: {...},
    FlowOptions: {...}}."""
    out: dict[type, dict[str, Any]] = {}
    for cls in FLOW_SCHEMAS:
        names = {f.name for f in schema_fields(cls)}
        out[cls] = {k: v for k, v in params.items() if k in names}
    return out


def resolve(
    settings_overrides: dict[str, Any], target_overrides: dict[str, Any]
) -> tuple[LoadSettings, Target]:
    """Settings and target as `slack-ingest run` resolves them (flags > env > .dlt > defaults),
    checked up front: a user mistake raises ConfigError with one line."""
    from ingest.config.resolve import resolve_settings, resolve_target
    from ingest.load.target import check_target

    settings = resolve_settings(clean_overrides(settings_overrides))
    target = check_target(resolve_target(target_overrides))
    return settings, target
