"""One load in a fresh process, reporting this process's peak RSS as one JSON line.

`python -m benchmarks.memory_child --size medium`: starts the simulator in its own child
process (its memory is not counted), loads the workspace into a temporary DuckDB file with
`ingest.load.run.run_load` (fast path, limits off) and prints `peak_rss_mb` (psutil polled
every 20 ms), `baseline_rss_mb` (after imports, before the load), `messages`, `elapsed_s`.
Not `ru_maxrss`: Linux keeps it across fork+exec, so it would report the parent's peak.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import psutil

MB = 1024 * 1024


class PeakRss:
    """Polls this process's RSS; `phase` (set by the dlt hooks below) splits the peak."""

    def __init__(self, interval_s: float = 0.02) -> None:
        self.proc = psutil.Process()
        self.interval_s = interval_s
        self.peak = self.proc.memory_info().rss
        self.phase = "setup"
        self.phases: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)

    def _poll(self) -> None:
        while not self._stop.wait(self.interval_s):
            rss = self.proc.memory_info().rss
            self.peak = max(self.peak, rss)
            self.phases[self.phase] = max(self.phases.get(self.phase, 0), rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)


def _hook_phases(peak: PeakRss) -> None:
    """Tag the RSS samples with dlt's step (extract = fetch + extract, normalize, load)."""
    from dlt.pipeline.pipeline import Pipeline

    for name in ("extract", "normalize", "load"):
        original = getattr(Pipeline, name)

        def wrapped(
            self: Any, *args: Any, _original: Any = original, _name: str = name, **kwargs: Any
        ) -> Any:
            peak.phase = _name
            try:
                return _original(self, *args, **kwargs)
            finally:
                peak.phase = f"after_{_name}"

        setattr(Pipeline, name, wrapped)


def measure(size: str, seed: int = 0, duckdb_memory_limit: str | None = None) -> dict[str, Any]:
    from benchmarks.common import quiet_env

    quiet_env()
    import dlt  # noqa: F401 - imported before the baseline, as a load would

    from benchmarks.simproc import SimProcess
    from ingest.load.run import Target, run_load
    from ingest.source import LoadSettings

    with (
        tempfile.TemporaryDirectory(prefix="bench-memory-") as tmp,
        SimProcess(size, seed=seed, profile="unlimited") as sim,
    ):
        target = Target(
            duckdb_path=str(Path(tmp) / "mem.duckdb"),
            dataset="slack",
            pipelines_dir=str(Path(tmp) / "pipelines"),
        )
        if duckdb_memory_limit is not None:
            target = replace(target, duckdb_memory_limit=duckdb_memory_limit)
        settings = LoadSettings(
            base_url=sim.base_url, profile="unlimited", lookback_days=36500.0
        ).validate()
        baseline = psutil.Process().memory_info().rss
        t0 = time.perf_counter()
        peak = PeakRss()
        _hook_phases(peak)
        with peak:
            result = run_load(sim.token, settings, target)
        elapsed = time.perf_counter() - t0
        messages = int(result.row_counts.get("messages", 0))
        expected = sim.messages
    return {
        "size": size,
        "duckdb_memory_limit": target.duckdb_memory_limit,
        "peak_rss_mb": round(peak.peak / MB, 1),
        "baseline_rss_mb": round(baseline / MB, 1),
        "load_delta_mb": round((peak.peak - baseline) / MB, 1),
        "phase_peak_rss_mb": {
            k: round(v / MB, 1) for k, v in peak.phases.items() if not k.startswith("after_")
        },
        "messages": messages,
        "expected_messages": expected,
        "complete": messages == expected,
        "elapsed_s": round(elapsed, 2),
    }


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m benchmarks.memory_child")
    p.add_argument("--size", required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--duckdb-memory-limit", default=None)
    args = p.parse_args(argv)
    sys.stdout.write(json.dumps(measure(args.size, args.seed, args.duckdb_memory_limit)) + "\n")


if __name__ == "__main__":
    main()
