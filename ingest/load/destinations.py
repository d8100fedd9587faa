"""dlt destinations for a load: DuckDB (bounded memory, retried with a larger cap when
it runs out) and BigQuery (partitioning hints), or any dlt destination by name."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import dlt
from dlt.common.destination import Destination

from ingest.load.explain import is_out_of_memory
from ingest.source import ConfigError

if TYPE_CHECKING:
    from ingest.load.target import Target

#: DuckDB's buffer pool cap for a load (DuckDB's own default is 80% of RAM). A load writes
#: one slice at a time, so a small pool costs little in speed; DuckDB spills beyond it, and
#: a load that still runs out of memory is retried with the cap doubled (MEMORY_RETRIES).
DEFAULT_DUCKDB_MEMORY_LIMIT = "32MB"
#: How many times a load that ran out of memory is retried, each time with twice the cap.
MEMORY_RETRIES = 3
#: Caps below this run DuckDB on one thread: every thread converts its own chunk of Parquet
#: into JSON columns, and two threads do not fit a 32 MB pool with 50k-row slices.
SINGLE_THREAD_BELOW = 256 * 1024 * 1024
_MEMORY_SIZE = re.compile(
    r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KIB|MIB|GIB|TIB)\s*$", re.IGNORECASE
)
_UNITS = {
    "B": 1,
    "KB": 1000,
    "MB": 1000**2,
    "GB": 1000**3,
    "TB": 1000**4,
    "KIB": 1024,
    "MIB": 1024**2,
    "GIB": 1024**3,
    "TIB": 1024**4,
}


def make_destination(target: Target) -> Any:
    if target.destination == "duckdb":
        return dlt.destinations.duckdb(credentials=duckdb_credentials(target))
    try:
        return Destination.from_reference(target.destination)
    except Exception:
        raise ConfigError(
            f"unknown destination {target.destination!r}: use duckdb, bigquery or another dlt "
            "destination name"
        ) from None


def memory_size_bytes(limit: str) -> int | None:
    """Bytes of a DuckDB memory size such as 32MB or 1GiB (DuckDB's units: MB = 1000^2);
    None for 'default' or anything else."""
    match = _MEMORY_SIZE.match(limit)
    if not match:
        return None
    return int(float(match.group(1)) * _UNITS[match.group(2).upper()])


def duckdb_credentials(target: Target) -> Any:
    """DuckDB opened for a bounded-memory load: the buffer pool capped at the target's
    limit, one thread under a lean cap, insertion order not preserved (lets inserts
    stream instead of buffering), and no checkpoint compaction where the target says so."""
    from dlt.destinations.impl.duckdb.configuration import DuckDbCredentials

    config: dict[str, Any] = {"preserve_insertion_order": False}
    if not target.duckdb_compaction:
        config["max_vacuum_tasks"] = 0
    limit = memory_size_bytes(target.duckdb_memory_limit)
    if limit is not None:
        config["memory_limit"] = target.duckdb_memory_limit.replace(" ", "")
        if limit < SINGLE_THREAD_BELOW:
            config["threads"] = 1
    return DuckDbCredentials(target.location(), global_config=config)


def raised_memory_limit(target: Target, exc: BaseException, retries_left: int) -> Target | None:
    """The target with twice the DuckDB memory cap, if `exc` is DuckDB running out of memory
    under a cap and retries are left; else None."""
    limit = memory_size_bytes(target.duckdb_memory_limit)
    if (
        target.destination != "duckdb"
        or limit is None
        or retries_left <= 0
        or not is_out_of_memory(exc)
    ):
        return None
    doubled = 2 * limit
    size = f"{doubled // 1000**2}MB" if doubled % 1000**2 == 0 else f"{doubled // 1000}KB"
    return replace(target, duckdb_memory_limit=size)


def load_options(target: Target) -> tuple[dict[str, Any], dict[str, Any]]:
    """(extract kwargs, load kwargs) for the destination. DuckDB: every table as Parquet
    (dlt's default for DuckDB is INSERT statements, which DuckDB parses in memory: 70+ MB
    for the users of a mid-size workspace). One load worker would save ~50 MB more on the
    first slice, but dlt then does not stop on Ctrl-C during a load (it hangs)."""
    if target.destination == "duckdb":
        return {"loader_file_format": "parquet"}, {}
    return {}, {}


#: BigQuery: table -> (the resource that writes it, day-partition column, cluster columns).
#: Tables a resource writes besides its own (reactions, file_shares, usergroup_members) are
#: dlt table variants of it, hinted through `apply_hints(create_table_variant=True)`.
BIGQUERY_TABLES: dict[str, tuple[str, str | None, list[str]]] = {
    "messages": ("messages", "ts_at", ["channel_id"]),
    "reactions": ("messages", "ts_at", ["channel_id", "name"]),
    "files": ("files", "created", ["user"]),
    "file_shares": ("files", None, ["channel_id", "file_id"]),
    "usergroups": ("usergroups", None, ["id"]),
    "usergroup_members": ("usergroups", None, ["usergroup_id"]),
}


def apply_destination_hints(source: Any, target: Target) -> Any:
    if target.destination == "bigquery":
        from dlt.destinations.adapters import bigquery_adapter

        for table, (name, partition, cluster) in BIGQUERY_TABLES.items():
            resource = source.resources.get(name)
            if resource is None:
                continue
            if table == name:
                if partition:
                    bigquery_adapter(resource, partition=partition, cluster=cluster)
                else:
                    bigquery_adapter(resource, cluster=cluster)
                continue
            columns: dict[str, dict[str, Any]] = {c: {"x-bigquery-cluster": True} for c in cluster}
            if partition:
                columns.setdefault(partition, {})["x-bigquery-partition"] = True
            resource.apply_hints(
                table_name=table,
                create_table_variant=True,
                columns=columns,
                additional_table_hints={"x-bigquery-cluster-columns": cluster},
            )
    return source


def check_credentials(destination: Any, pipeline_name: str) -> None:
    """ConfigError if dlt cannot find the destination's credentials (BigQuery without a
    service account, ...): found here, not after the extract, when the load step starts.
    Resolves the configuration as the load will (same providers, the pipeline's section);
    never shows a value. Any other configuration problem is left to the load to report."""
    from dlt.common.configuration import inject_section
    from dlt.common.configuration.exceptions import ConfigFieldMissingException
    from dlt.common.configuration.specs.config_section_context import ConfigSectionContext

    try:
        with inject_section(ConfigSectionContext(pipeline_name=pipeline_name, sections=("load",))):
            destination.configuration(destination.spec())
    except ConfigFieldMissingException as exc:
        if "credentials" not in exc.fields:
            return
        raise missing_credentials(
            destination.destination_name, destination.destination_type
        ) from None
    except Exception:  # noqa: BLE001 - not ours to judge here: the load reports it
        return


def missing_credentials(name: str, destination_type: str) -> ConfigError:
    """The one line for a destination whose credentials dlt cannot find."""
    where = (
        f"[destination.{name}.credentials] of .dlt/secrets.toml or the "
        f"DESTINATION__{name.upper()}__CREDENTIALS__* environment variables"
    )
    if destination_type.rsplit(".", 1)[-1] == "bigquery":
        return ConfigError(
            f"BigQuery credentials are missing or incomplete: set project_id, private_key and "
            f"client_email in {where}, or point GOOGLE_APPLICATION_CREDENTIALS at a service "
            "account key file"
        )
    return ConfigError(
        f"credentials for destination {name} are missing or incomplete: set them in {where}"
    )
