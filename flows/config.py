"""Flow parameters <-> the ingest layer's settings.

Tasks and deployments carry only plain, non-secret data: `LoadSettings` and `Target` as
dicts (JSON-safe, so Prefect can store them as parameters). The token never travels: each
task reads it where it runs (flows.secrets).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from ingest.load.run import Target
from ingest.source import ConfigError, LoadSettings


def settings_to_params(settings: LoadSettings) -> dict[str, Any]:
    out = dataclasses.asdict(settings)
    out["channels"] = list(settings.channels)
    out["exclude_channels"] = list(settings.exclude_channels)
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


def resolve(settings_overrides: dict[str, Any], target_overrides: dict[str, Any]
            ) -> tuple[LoadSettings, Target]:
    """Settings and target as `slack-ingest run` resolves them (flags > env > .dlt > defaults),
    checked up front: a user mistake raises ConfigError with one line."""
    from ingest.config.resolve import resolve_settings, resolve_target
    from ingest.load.run import check_target

    clean = {k: v for k, v in settings_overrides.items() if v is not None}
    for key in ("channels", "exclude_channels"):
        if key in clean:
            clean[key] = tuple(clean[key]) if clean[key] else None
            if clean[key] is None:
                del clean[key]
    settings = resolve_settings(clean)
    target = check_target(resolve_target(target_overrides))
    return settings, target
