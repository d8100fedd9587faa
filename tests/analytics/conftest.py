"""Fixtures of the analytics tests: dbt required (skipped, with the install command,
without it) and a simulated workspace loaded into DuckDB with its models built."""

from __future__ import annotations

import importlib.util
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from ingest.load.run import Target

INSTALL = "pip install -e '.[models]'"


def require_dbt(adapter: str = "duckdb") -> None:
    """Skip the calling test or fixture unless dbt and its `adapter` are installed."""
    pytest.importorskip("dbt.version", reason=f"dbt is not installed ({INSTALL})")
    try:
        found = importlib.util.find_spec(f"dbt.adapters.{adapter}") is not None
    except ImportError:
        found = False
    if not found:
        pytest.skip(f"dbt-{adapter} is not installed ({INSTALL})")


@dataclass
class Warehouse:
    """A DuckDB file and a pipelines folder of its own."""

    target: Target
    root: Path


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Warehouse]:
    root = tmp_path_factory.mktemp("analytics")
    yield Warehouse(
        Target(
            duckdb_path=str(root / "warehouse.duckdb"),
            dataset="slack",
            pipelines_dir=str(root / "pipelines"),
        ),
        root,
    )
