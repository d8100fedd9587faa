"""Heavy modules a load imports lazily, imported up front in one thread.

A load running in a thread (the flow's `.submit()` tasks, an org's workspaces) imports
pandas, pyarrow and dlt's destination modules on first use; two threads importing one module
at once can see it half initialized ("partially initialized module 'pandas' has no attribute
'DataFrame'"). `import_load_modules()` imports them first, in the thread that starts the
others.
"""

from __future__ import annotations

import importlib

LOAD_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "duckdb",
    "dlt",
    "dlt.common.libs.pyarrow",
    "dlt.destinations.impl.duckdb.duck",
    "dlt.destinations.impl.duckdb.sql_client",
    "dlt.destinations.insert_job_client",
    "ingest.load.run",
    "ingest.source",
    "ingest.source.resources",
    "ingest.load.dataset_states",
    "ingest.load.preflight",
)


def import_load_modules(extra: tuple[str, ...] = ()) -> None:
    for name in LOAD_MODULES + extra:
        importlib.import_module(name)
