"""Analytics over a loaded workspace: dbt models built after a load (`build`), and the
figures and report read from them (`figures`, `report`)."""

from ingest.analytics.build import (
    MODELS,
    ModelsBuild,
    ModelsError,
    ModelsUnavailable,
    analytics_dataset_name,
    build_models,
    compile_models_offline,
)

__all__ = [
    "MODELS",
    "ModelsBuild",
    "ModelsError",
    "ModelsUnavailable",
    "analytics_dataset_name",
    "build_models",
    "compile_models_offline",
]
