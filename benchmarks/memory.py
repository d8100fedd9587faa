"""`memory`: peak RSS of a load, by workspace size, each in a fresh process.

`memory_growth` = peak(medium) / peak(small) - 1: the fan-out streams through a bounded
queue and DuckDB loads under a memory cap, so a 20x bigger workspace should barely move
the peak. Full runs add `large` (`growth_medium_to_large`) and, side by side, `medium`
with DuckDB's own memory limit (`medium_duckdb_unbounded_peak_rss_mb`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from benchmarks.common import ratio
from benchmarks.simproc import ROOT

SIZES = {False: ("small", "medium", "large"), True: ("small", "medium")}


def _child(size: str, *more: str, timeout_s: float = 1800.0) -> dict[str, Any]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.memory_child", "--size", size, *more],
        capture_output=True,
        text=True,
        cwd=str(ROOT),
        env=env,
        timeout=timeout_s,
        check=False,
    )
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = (proc.stderr or "").strip().splitlines()[-3:]
        return {"size": size, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    return dict(json.loads(lines[-1]))


def run(quick: bool) -> dict[str, Any]:
    runs = {size: _child(size) for size in SIZES[quick]}
    peak = {s: r.get("peak_rss_mb") for s, r in runs.items()}
    growth = ratio(peak.get("medium"), peak.get("small"), 4)
    out: dict[str, Any] = {
        "peak_rss_mb": peak,
        "memory_growth": None if growth is None else round(growth - 1, 4),
        "runs": runs,
    }
    extract = {s: (r.get("phase_peak_rss_mb") or {}).get("extract") for s, r in runs.items()}
    eg = ratio(extract.get("medium"), extract.get("small"), 4)
    out["extract_peak_rss_mb"] = extract
    out["extract_growth"] = None if eg is None else round(eg - 1, 4)
    out["note"] = (
        "peak_rss_mb: whole load process (fetch + dlt + DuckDB); extract_*: the "
        "peak while dlt extracts (the fan-out streaming), before normalize/load"
    )
    if "large" in peak:
        large = ratio(peak.get("large"), peak.get("small"), 4)
        out["memory_growth_large"] = None if large is None else round(large - 1, 4)
        flat = ratio(peak.get("large"), peak.get("medium"), 4)
        out["growth_medium_to_large"] = None if flat is None else round(flat - 1, 4)
    if not quick:
        # The main lever, side by side: the same medium load with DuckDB's own memory
        # limit (80% of RAM) instead of the loader's default.
        unbounded = _child("medium", "--duckdb-memory-limit", "default")
        out["medium_duckdb_unbounded"] = unbounded
        out["medium_duckdb_unbounded_peak_rss_mb"] = unbounded.get("peak_rss_mb")
        # ... and at twice the default cap (the default before it was lowered to 32MB)
        doubled = _child("medium", "--duckdb-memory-limit", "64MB")
        out["medium_duckdb_64mb"] = doubled
        out["medium_duckdb_64mb_peak_rss_mb"] = doubled.get("peak_rss_mb")
    return out
