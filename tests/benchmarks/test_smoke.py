"""Smoke test of the benchmark machinery: the `budget` scenario on `tiny` at a high time
scale, written through the runner's JSON writer and plotted beside it. No timing assertions."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from benchmarks import __main__ as cli
from benchmarks import budget_use, runner
from benchmarks.runner import machine, versions, write_document

pytestmark = pytest.mark.timeout(120)

BUDGET_KEYS = {
    "wall_s",
    "lower_bound_s",
    "efficiency",
    "n_429",
    "requests",
    "peer_wall_s",
    "peer_n_429",
    "peer_ratio",
    "engine_fanout",
    "fetch",
}


@pytest.fixture(scope="module")
def tiny_budget() -> dict[str, Any]:
    """One real `budget` measurement on `tiny`, shared by the tests below."""
    return budget_use.measure(
        "tiny",
        profile="internal",
        time_scale=300.0,
        engine=True,
        peer_modes=("stock", "whole"),
        peer_timeout_s=60,
    )


def test_budget_scenario_on_tiny(tiny_budget: dict[str, Any], tmp_path: Path) -> None:
    result = copy.deepcopy(tiny_budget)
    plot = result.pop("_plot")
    doc = {"machine": machine(), "versions": versions(), "scenarios": {"budget": result}}
    path = write_document(doc, tmp_path / "bench.json")
    loaded = json.loads(path.read_text())

    figures = loaded["scenarios"]["budget"]
    assert BUDGET_KEYS <= set(figures)
    assert figures["n_429"] == 0
    assert figures["fetch"]["complete"] is True
    assert figures["engine_fanout"]["complete"] is True
    assert figures["requests"]["conversations.history"] >= 1
    assert set(loaded["machine"]) >= {"cpu_count", "platform", "python", "total_memory_mb"}
    assert "dlt" in loaded["versions"]
    # the stock slack-sdk handler either copes or fails on the fractional Retry-After:
    # reported either way, never raised
    assert "stock" in figures["peer_runs"]
    assert plot["ours"], "the simulator's timeline is there for the plot"


def test_scenario_keeps_its_name_when_its_module_does_not() -> None:
    assert runner.scenario_module("budget") == "budget_use"
    assert runner.scenario_module("latency") == "latency"
    assert runner._load("budget") is budget_use.run


def test_plots_go_beside_the_json(tmp_path: Path) -> None:
    assert runner.plots_dir_for(tmp_path / "x.json") == tmp_path
    assert runner.plots_dir_for(None) == runner.RESULTS_DIR
    assert runner.DEFAULT_JSON.parent == runner.RESULTS_DIR


def _listing(folder: Path) -> dict[str, tuple[int, int]]:
    if not folder.is_dir():
        return {}
    return {p.name: (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.iterdir()}


def test_run_with_json_elsewhere_writes_nothing_into_the_repo(
    tiny_budget: dict[str, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the runner as `python -m benchmarks run --scenario budget --json tmp_path/x.json` runs
    # it, with the tiny measurement above standing in for the scenario's own (small, ~minutes)
    ran: list[tuple[str, bool]] = []

    def scenario(name: str, quick: bool) -> dict[str, Any]:
        ran.append((name, quick))
        return {**copy.deepcopy(tiny_budget), "scenario_s": 0.0}

    monkeypatch.setattr(runner, "run_scenario", scenario)
    before = _listing(runner.RESULTS_DIR)
    json_path = tmp_path / "x.json"
    doc = runner.run_suite(["budget"], quick=True, json_path=json_path, log=lambda _: None)

    assert ran == [("budget", True)]
    assert json.loads(json_path.read_text())["scenarios"]["budget"]["n_429"] == 0
    assert doc["plots"] == {
        "budget_timeline": str(tmp_path / "budget_timeline.png"),
        "summary": str(tmp_path / "summary.png"),
    }
    assert (tmp_path / "budget_timeline.png").stat().st_size > 0
    assert (tmp_path / "summary.png").stat().st_size > 0
    assert _listing(runner.RESULTS_DIR) == before, "nothing new under benchmarks/results"


def test_cli_run_with_json_elsewhere(tmp_path: Path) -> None:
    # the smallest real run: `python -m benchmarks run --scenario unlisted --quick --json ...`
    # (`tiny` at 600x, a few seconds); its summary plot lands beside the JSON
    before = _listing(runner.RESULTS_DIR)
    json_path = tmp_path / "x.json"
    assert cli.main(["run", "--scenario", "unlisted", "--quick", "--json", str(json_path)]) == 0

    doc = json.loads(json_path.read_text())
    assert "error" not in doc["scenarios"]["unlisted"]
    assert doc["plots"] == {"summary": str(tmp_path / "summary.png")}
    assert (tmp_path / "summary.png").stat().st_size > 0
    assert _listing(runner.RESULTS_DIR) == before, "nothing new under benchmarks/results"
