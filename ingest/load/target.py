"""Where a load writes: `Target` (a settings schema, `[slack_ingest]`) and its checks.

One pipeline per (destination, location, dataset[, shard]): the name carries a short hash
of where it writes, so pointing a load at a new DuckDB file or dataset never reuses another
destination's cursors.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from ingest.load.destinations import (
    DEFAULT_DUCKDB_MEMORY_LIMIT,
    check_credentials,
    make_destination,
    memory_size_bytes,
)
from ingest.source import ALL_COMMANDS, ConfigError, setting

DEFAULT_DUCKDB_PATH = "slack_ingest.duckdb"
DEFAULT_DATASET = "slack"


MODELS_MODES = ("auto", "yes", "no")


@dataclass(frozen=True)
class Target:
    """Where a load writes (`[slack_ingest]` in .dlt/config.toml; a settings schema like
    `LoadSettings`, see `ingest.source.settings`)."""

    destination: str = setting(
        "duckdb",
        flag="--destination",
        cli=2,
        flow=2,
        commands=(*ALL_COMMANDS, "listen"),
        help="dlt destination: duckdb, bigquery, or any dlt destination name [default: duckdb]",
    )
    duckdb_path: str = setting(
        DEFAULT_DUCKDB_PATH,
        flag="--duckdb-path",
        cli=3,
        flow=8,
        commands=(*ALL_COMMANDS, "listen"),
        help="DuckDB file [default: slack_ingest.duckdb]",
    )
    dataset: str = setting(
        DEFAULT_DATASET,
        flag="--dataset",
        cli=4,
        flow=9,
        commands=(*ALL_COMMANDS, "listen"),
        help="Dataset (schema) name [default: slack]",
    )
    pipelines_dir: str | None = setting(None, flow=17)
    duckdb_memory_limit: str = setting(
        DEFAULT_DUCKDB_MEMORY_LIMIT,
        flag="--duckdb-memory-limit",
        cli=18,
        commands=("run",),
        help="DuckDB's memory cap for the load step, e.g. 32MB, 1GB, or 'default' (80% of "
        "RAM); raised 2x (up to 8x) when a load runs out of memory [default: 32MB]",
    )
    journal_path: str | None = setting(
        None,
        flag="--journal",
        cli=4.5,
        flow=22,
        commands=("run", "flow run", "flow serve", "listen"),
        help="Change journal written by `slack-ingest listen` and applied by runs (SQLite) "
        "[default: beside the DuckDB file, <file>.journal.sqlite; for other destinations "
        "slack_ingest.<dataset>.journal.sqlite]",
    )
    models: str = setting(
        "auto",
        flag="--models",
        cli=18.5,
        flow=24,
        help="Build the analytics models (dbt, dataset <dataset>_analytics) after the load: "
        "auto (when dbt is installed: pip install -e '.[models]'), yes, or no [default: auto]",
    )
    #: DuckDB's checkpoint compaction (vacuum: merging small or partly deleted row groups).
    #: `run_load` turns it off for an initial backfill (see `initial_backfill`).
    duckdb_compaction: bool = True

    def location(self) -> str:
        if self.destination == "duckdb":
            return str(Path(self.duckdb_path).expanduser().resolve())
        return self.destination

    def journal_file(self) -> Path:
        """The change journal's path (`journal_path`, else derived from where it loads)."""
        if self.journal_path:
            return Path(self.journal_path).expanduser()
        if self.destination == "duckdb":
            db = Path(self.duckdb_path).expanduser()
            return db.with_name(db.stem + ".journal.sqlite")
        return Path(f"slack_ingest.{self.dataset}.journal.sqlite")

    def pipeline_name(self, shard: str | None = None) -> str:
        key = f"{self.destination}|{self.location()}|{self.dataset}"
        digest = hashlib.sha256(key.encode()).hexdigest()[:8]
        name = f"slack_{self.dataset}_{digest}"
        return f"{name}_{shard}" if shard else name


def check_target(target: Target) -> Target:
    """Validate a target up front (one-line ConfigError on a user mistake)."""
    destination = make_destination(target)
    if target.destination == "duckdb":
        path = Path(target.location())
        parent = path.parent
        if path.exists() and path.is_dir():
            raise ConfigError(f"DuckDB path {target.duckdb_path} is a directory")
        if not parent.exists():
            raise ConfigError(f"DuckDB path {target.duckdb_path}: folder {parent} does not exist")
        if not parent.is_dir():
            raise ConfigError(f"DuckDB path {target.duckdb_path}: {parent} is a file, not a folder")
        if path.is_file() and path.stat().st_size > 0 and not _is_duckdb_file(path):
            raise ConfigError(
                f"DuckDB path {target.duckdb_path} exists and is not a DuckDB database"
            )
        if path.stem == target.dataset:
            raise ConfigError(
                f"DuckDB file {path.name} has the same name as the dataset {target.dataset!r}; "
                "DuckDB cannot tell them apart: rename the file or pass --dataset"
            )
        if not os.access(parent, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
            raise ConfigError(f"DuckDB path {target.duckdb_path} is not writable")
    limit = target.duckdb_memory_limit
    if limit.lower() != "default" and memory_size_bytes(limit) is None:
        raise ConfigError(
            f"duckdb_memory_limit {limit!r} must be a size such as 64MB or 1GB "
            "(or 'default' for DuckDB's own, 80% of RAM)"
        )
    if target.models not in MODELS_MODES:
        raise ConfigError(f"--models {target.models!r} must be one of {', '.join(MODELS_MODES)}")
    if not target.dataset.replace("_", "").isalnum():
        raise ConfigError(f"dataset name {target.dataset!r} must be letters, digits and _")
    if target.destination != "duckdb":  # (DuckDB's credentials are the path checked above)
        check_credentials(destination, target.pipeline_name())
    return target


def _is_duckdb_file(path: Path) -> bool:
    """DuckDB files carry the magic bytes DUCK at offset 8."""
    with path.open("rb") as f:
        head = f.read(12)
    return head[8:12] == b"DUCK"


def describe_target(target: Target) -> str:
    """Where a load writes, for a one-line message: the DuckDB file as given, or the dataset."""
    if target.destination == "duckdb":
        return target.duckdb_path
    return f"dataset {target.dataset} ({target.destination})"


def duckdb_file_missing(target: Target) -> bool:
    """A DuckDB target whose file does not exist yet: nothing was committed to it, and
    opening it to ask would create it."""
    return target.destination == "duckdb" and not Path(target.location()).is_file()
