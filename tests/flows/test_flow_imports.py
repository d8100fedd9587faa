"""Heavy modules are imported with the flow, in the importing thread, never first inside a
task: `.submit()` runs tasks in threads, and two threads importing one module at once can
see it half initialized ("partially initialized module 'pandas' has no attribute
'DataFrame'")."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MUST_BE_LOADED = (
    "pandas",
    "pyarrow",
    "duckdb",
    "dlt",
    "dlt.common.libs.pyarrow",
    "dlt.destinations.impl.duckdb.sql_client",
    "ingest.load.run",
    "ingest.source",
    "ingest.load.dataset_states",
)


def test_importing_the_flow_imports_the_heavy_modules_up_front():
    code = (
        "import json, sys; import flows.pipeline; "
        f"print(json.dumps([m for m in {list(MUST_BE_LOADED)!r} if m not in sys.modules]))"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    missing = json.loads(proc.stdout.strip().splitlines()[-1])
    assert missing == [], f"imported lazily (inside a task thread): {missing}"
