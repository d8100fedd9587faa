"""Run scenarios, write one JSON document and the PNG plots."""

from __future__ import annotations

import importlib
import importlib.metadata
import json
import os
import platform
import sys
import time
import traceback
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil

from benchmarks.common import quiet_env

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_JSON = RESULTS_DIR / "latest.json"
SCENARIOS = (
    "budget",
    "peer_client",
    "unlisted",
    "latency",
    "throughput",
    "memory",
    "prefect_overhead",
    "nightly",
    "history_pages",
    "models",
    "org",
)
#: A scenario's module under benchmarks/ where it is not the scenario's name.
SCENARIO_MODULES = {"budget": "budget_use"}
PACKAGES = ("dlt", "duckdb", "pyarrow", "aiohttp", "prefect", "slack_sdk", "slack-ingest")

Log = Callable[[str], None]


def machine() -> dict[str, Any]:
    return {
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "platform": platform.platform(),
        "machine": platform.machine(),
        "python": sys.version.split()[0],
        "total_memory_mb": round(psutil.virtual_memory().total / 2**20),
    }


def versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            out[name] = None
    return out


def scenario_module(name: str) -> str:
    """The module (under `benchmarks`) that runs scenario `name`."""
    return SCENARIO_MODULES.get(name, name)


def _load(name: str) -> Callable[[bool], dict[str, Any]] | None:
    qualified = f"benchmarks.{scenario_module(name)}"
    try:
        module = importlib.import_module(qualified)
    except ModuleNotFoundError as exc:
        if exc.name == qualified:
            return None
        raise
    return module.run  # type: ignore[no-any-return]


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def run_scenario(name: str, quick: bool) -> dict[str, Any]:
    t0 = time.perf_counter()
    load_before = _loadavg()
    try:
        fn = _load(name)
        if fn is None:
            result: dict[str, Any] = {
                "missing": True,
                "note": f"benchmarks/{scenario_module(name)}.py is not there yet",
            }
        else:
            result = dict(fn(quick))
    except Exception as exc:  # noqa: BLE001 - one failed scenario never loses the others
        result = {
            "error": f"{type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(limit=8),
        }
    result["scenario_s"] = round(time.perf_counter() - t0, 2)
    result["loadavg_before_after"] = [load_before, _loadavg()]
    return result


def write_document(doc: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, sort_keys=False, default=str) + "\n")
    return path


def plots_dir_for(json_path: Path | None) -> Path:
    """Plots go beside the JSON document: `--json`'s folder, else benchmarks/results."""
    return (json_path or DEFAULT_JSON).parent


def run_suite(
    names: Iterable[str],
    *,
    quick: bool,
    json_path: Path | None = None,
    plots_dir: Path | None = None,
    log: Log = print,
) -> dict[str, Any]:
    """Run `names`, write the JSON to `json_path` (default DEFAULT_JSON) and the plots to
    `plots_dir` (default: the JSON's folder)."""
    quiet_env()
    from benchmarks import plots

    started = time.perf_counter()
    doc: dict[str, Any] = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "quick": quick,
        "command": " ".join(["python -m benchmarks", *sys.argv[1:]]),
        "machine": machine(),
        "versions": versions(),
        "scenarios": {},
        "plots": {},
    }
    path = json_path or DEFAULT_JSON
    plots_dir = plots_dir_for(path) if plots_dir is None else plots_dir
    for name in names:
        log(f"[bench] {name} ...")
        result = run_scenario(name, quick)
        plot = result.pop("_plot", None)
        doc["scenarios"][name] = result
        if name == "budget" and plot:
            doc["plots"]["budget_timeline"] = str(
                plots.budget_timeline(plot, plots_dir / "budget_timeline.png")
            )
        log(f"[bench] {name} done in {result['scenario_s']}s: {headline(name, result)}")
        doc["total_s"] = round(time.perf_counter() - started, 2)
        write_document(doc, path)  # partial results survive a crash later on
    doc["plots"]["summary"] = str(plots.summary(doc, plots_dir / "summary.png"))
    doc["total_s"] = round(time.perf_counter() - started, 2)
    write_document(doc, path)
    log(f"[bench] wrote {path} and {', '.join(doc['plots'].values())} in {doc['total_s']}s")
    return doc


HEADLINES = {
    "budget": ("efficiency", "n_429", "wall_s", "lower_bound_s", "peer_ratio"),
    "peer_client": ("peer_ratio", "peer_wall_s", "peer_n_429"),
    "unlisted": ("efficiency", "n_429", "wall_s"),
    "latency": ("msgs_per_s", "speedup_64"),
    "throughput": ("fast_msgs_per_s", "dict_msgs_per_s", "throughput_ratio"),
    "memory": ("peak_rss_mb", "memory_growth"),
    "prefect_overhead": ("flow_wall_s", "cli_wall_s", "overhead_ratio", "worker_ratio"),
    "nightly": ("wall_s", "exact"),
    "history_pages": ("wall_s", "history_requests", "wall_ratio", "history_requests_ratio"),
}


def headline(name: str, result: dict[str, Any]) -> str:
    if "error" in result:
        return f"ERROR {result['error']}"
    if result.get("missing"):
        return "missing"
    keys = HEADLINES.get(name, ())
    parts = [f"{k}={result[k]}" for k in keys if k in result]
    if name == "throughput" and "pipeline_only" in result:
        parts.append(f"pipeline_ratio={result['pipeline_only'].get('pipeline_ratio')}")
    return ", ".join(parts)
