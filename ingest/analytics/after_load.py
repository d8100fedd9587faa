"""Building the analytics models after a load (`run`, `demo`, the flow), as `--models` says.

`auto` builds them when dbt and the destination's dbt adapter are installed (the `models`
extra) and says in one line why not otherwise; `yes` makes a missing dbt a bad-input error
before anything is loaded; `no` skips them. A failed build does not undo the load: the
caller says the load was kept and exits 1.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from ingest.load.run import make_pipeline
from ingest.load.target import Target
from ingest.source import ConfigError

if TYPE_CHECKING:
    from ingest.analytics.build import ModelsBuild
    from ingest.analytics.figures import Figures


def missing_dbt(destination: str) -> str | None:
    """Why the models cannot be built for `destination` here, or None when they can."""
    from ingest.analytics.build import dbt_missing

    return dbt_missing(f"dbt.adapters.{destination}")


def check_models(target: Target) -> None:
    """Before a load: `--models yes` needs dbt (one-line ConfigError otherwise)."""
    if target.models == "yes":
        why = missing_dbt(target.destination)
        if why is not None:
            raise ConfigError(f"--models yes: {why}")


@dataclass(frozen=True)
class ModelsOutcome:
    """What happened to the models after a load: built (with the figures they hold) or
    skipped, and why."""

    build: ModelsBuild | None = None
    figures: Figures | None = None
    skipped: str | None = None


def build_after_load(target: Target) -> ModelsOutcome:
    """Build the models into `<dataset>_analytics` and read their headline figures.
    Raises ModelsError (a one-line message) when dbt fails."""
    if target.models == "no":
        return ModelsOutcome(skipped="--models no")
    why = missing_dbt(target.destination)
    if why is not None:
        return ModelsOutcome(skipped=why)
    from ingest.analytics.build import ModelsUnavailable, build_models
    from ingest.analytics.figures import read_figures

    pipeline = make_pipeline(target)
    try:
        build = build_models(pipeline)
    except ModelsUnavailable as exc:  # e.g. a destination the models have no profile for
        if target.models == "yes":
            raise
        return ModelsOutcome(skipped=str(exc))
    figures = read_figures(pipeline, build.dataset)
    return ModelsOutcome(build=build, figures=figures)
