"""Fault convergence: how many `slack-ingest run`s, and how many Slack requests, a backfill
needs when Slack fails a large share of requests.

`python -m benchmarks.fault_convergence [--size small] [--budget 30 --budget 600] [--repeat 3]`

For each retry budget (`max_retry_wait_s`, Slack seconds; time scale 60, so 600 = 10 real
seconds): a clean run (no faults) gives the requests of one load; then, with the faults on,
`slack-ingest run` subprocesses (profile unlimited, the CLI's defaults otherwise) are rerun
against a fresh DuckDB file until one exits 0. Printed per attempt: exit codes, messages in
the destination after each run, the first run after which the destination equals the
simulator's truth (a run may still exit 1 after that: a metadata call gave up), total
requests / clean requests up to that run and up to the first exit 0. Requests are the simulator's own count
(`stats()["totals"]["requests"]`, failed and faulted requests included).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import duckdb

from ingest.load.run import Target
from ingest.load.verify import compare_with_truth
from ingest.simulator import SimulatorThread, Workspace

FAULTS = "http500=0.2,http503=0.1,reset=0.1,badjson=0.05"
TIME_SCALE = 60.0
TOKEN = "xoxb-4545-convergence"
REPO = Path(__file__).resolve().parents[1]


def _env(pipelines: Path, budget_s: float | None) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SOURCES__SLACK", "SLACK_INGEST__", "SLACK_INGEST_DEBUG"))
    }
    env.update(
        {
            "SOURCES__SLACK__ACCESS_TOKEN": TOKEN,
            "SLACK_INGEST__PIPELINES_DIR": str(pipelines),
            "SLACK_INGEST__MODELS": "no",
            "PYTHONPATH": str(REPO),
        }
    )
    if budget_s is not None:
        env["SOURCES__SLACK__MAX_RETRY_WAIT_S"] = str(budget_s)
    return env


def _run(sim: Any, db: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    args = [
        sys.executable,
        "-m",
        "slack_ingest",
        "run",
        "--base-url",
        sim.base_url,
        "--profile",
        "unlimited",
        "--time-scale",
        str(TIME_SCALE),
        "--duckdb-path",
        str(db),
        "--quiet",
    ]
    return subprocess.run(args, cwd=db.parent, env=env, capture_output=True, text=True, timeout=600)


def message_count(db: Path) -> int:
    if not db.exists():
        return 0
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("select count(*) from slack.messages").fetchone()
        assert row is not None  # count(*) always answers one row
        return int(row[0])
    except duckdb.CatalogException:
        return 0
    finally:
        con.close()


def converge(sim: Any, budget_s: float | None, max_runs: int, faults: str) -> dict[str, Any]:
    """Rerun until a run exits 0 (or max_runs); what each run did."""
    with tempfile.TemporaryDirectory(prefix="convergence-") as tmp:
        db = Path(tmp) / "w.duckdb"
        env = _env(Path(tmp) / "pipelines", budget_s)
        sim.set_faults(faults)
        sim.reset_stats()
        runs: list[dict[str, Any]] = []
        t0 = time.monotonic()
        for _ in range(max_runs):
            started = time.monotonic()
            proc = _run(sim, db, env)
            lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
            exact = (
                bool(compare_with_truth(Target(duckdb_path=str(db)), sim.workspace.truth())["ok"])
                if db.exists()
                else False
            )
            runs.append(
                {
                    "exit": proc.returncode,
                    "messages": message_count(db),
                    "exact": exact,
                    "requests": int(sim.stats()["totals"]["requests"]),
                    "seconds": round(time.monotonic() - started, 1),
                    "line": lines[-1] if proc.returncode else "",
                }
            )
            if proc.returncode == 0:
                break
        requests = int(sim.stats()["totals"]["requests"])
        sim.set_faults("")
        exact = db.exists() and bool(
            compare_with_truth(Target(duckdb_path=str(db)), sim.workspace.truth())["ok"]
        )
        return {
            "runs": runs,
            "requests": requests,
            "exact": exact,
            "wall_s": round(time.monotonic() - t0, 1),
        }


def clean_requests(sim: Any) -> int:
    with tempfile.TemporaryDirectory(prefix="convergence-clean-") as tmp:
        db = Path(tmp) / "w.duckdb"
        sim.set_faults("")
        sim.reset_stats()
        proc = _run(sim, db, _env(Path(tmp) / "pipelines", None))
        if proc.returncode != 0:
            raise SystemExit(f"clean run failed: {proc.stderr[-2000:]}")
        return int(sim.stats()["totals"]["requests"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.fault_convergence")
    parser.add_argument("--size", default="small")
    parser.add_argument("--seed", type=int, default=45)
    parser.add_argument(
        "--budget",
        type=float,
        action="append",
        help="max_retry_wait_s in Slack seconds (repeatable) [default: 30, 600]",
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=12)
    parser.add_argument("--faults", default=FAULTS)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    budgets = args.budget or [30.0, 600.0]
    ws = Workspace.generate(size=args.size, seed=args.seed, token=TOKEN)
    out: dict[str, Any] = {
        "size": args.size,
        "faults": args.faults,
        "time_scale": TIME_SCALE,
        "trials": [],
    }
    with SimulatorThread(ws, profile="unlimited", time_scale=TIME_SCALE) as sim:
        clean = clean_requests(sim)
        out["clean_requests"] = clean
        print(f"{args.size}: clean run {clean} requests; faults {args.faults}")
        for budget in budgets:
            for i in range(args.repeat):
                faults = f"{args.faults},seed={args.seed * 100 + i}"
                trial = converge(sim, budget, args.max_runs, faults)
                trial |= {"budget_s": budget, "ratio": round(trial["requests"] / clean, 2)}
                first = next((i for i, r in enumerate(trial["runs"]) if r["exact"]), None)
                trial["runs_to_exact"] = None if first is None else first + 1
                trial["ratio_to_exact"] = (
                    None if first is None else round(trial["runs"][first]["requests"] / clean, 2)
                )
                out["trials"].append(trial)
                exits = " ".join(str(r["exit"]) for r in trial["runs"])
                counts = " ".join(str(r["messages"]) for r in trial["runs"])
                print(
                    f"budget {budget:g} Slack-s ({budget / TIME_SCALE:g} s): "
                    f"{len(trial['runs'])} run(s) [exit {exits}] messages after each "
                    f"[{counts}] exact after run {trial['runs_to_exact']} "
                    f"({trial['ratio_to_exact']}x clean requests); until exit 0: "
                    f"{trial['requests']} requests = {trial['ratio']}x clean, "
                    f"exact={trial['exact']}, {trial['wall_s']} s",
                    flush=True,
                )
                for r in trial["runs"]:
                    if r["line"]:
                        print(f"    {r['line'][:300]}")
    if args.json:
        args.json.write_text(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
