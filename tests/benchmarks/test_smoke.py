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


def test_nightly_scenario_on_tiny(tmp_path: Path) -> None:
    # backfill, a real `slack-ingest listen` process through a day of changes, then the three
    # nightly runs from the same snapshot (~15 s on `tiny` at 600x); no timing assertions
    from benchmarks import nightly

    result = nightly.measure("tiny", time_scale=600.0, workdir=tmp_path)
    doc = write_document({"scenarios": {"nightly": result}}, tmp_path / "nightly.json")
    figures = json.loads(doc.read_text())["scenarios"]["nightly"]

    assert figures["backfill"]["correctness"]["exact"] is True
    assert figures["listen"]["all_acked"] is True
    assert figures["listen"]["exit_code"] == 0
    assert figures["listen"]["journal_summary"]["entries"] > 0
    assert set(figures["runs"]) == {"listener", "lookback", "rescan"}
    for run in figures["runs"].values():
        assert run["requests"]["conversations.history"] >= 1
        assert set(run["minimum"]) == {"conversations.history", "conversations.replies"}
        assert set(run["correctness"]) >= {
            "missing",
            "unexpected",
            "edits_not_loaded",
            "deletions_not_marked",
        }
    assert figures["runs"]["listener"]["changes"]["consumed"] > 0
    assert figures["exact"]["listener"] is True
    rescan = figures["runs"]["rescan"]["correctness"]
    assert (rescan["missing"], rescan["unexpected"], rescan["deletions_not_marked"]) == (0, 0, 0)
    extra = figures["extrapolation"]
    assert extra["computed_not_measured"] is True
    assert extra["nightly_with_listener"]["wall_min"] > 0
    assert extra["weekly_rescan"]["binding_method"]


def test_history_pages_scenario_on_tiny(tmp_path: Path) -> None:
    from benchmarks import history_pages

    result = history_pages.measure(
        "tiny", time_scale=600.0, latency_ms=20.0, workdir=tmp_path, history_only=False
    )
    assert set(result["backfill"]) == {"200", "999"}
    for fig in result["backfill"].values():
        assert fig["exact"] is True
        assert fig["n_429"] == 0
        assert fig["requests"]["conversations.history"] >= 1
    assert result["history_requests"]["999"] <= result["history_requests"]["200"]
    assert result["at_slack_limits"]["computed_not_measured"] is True


def test_models_scenario_on_tiny(tmp_path: Path) -> None:
    pytest.importorskip("dbt.adapters.duckdb", reason="the models extra is not installed")
    from benchmarks import models

    result = models.measure("tiny", tmp_path)
    assert set(result["builds"]) == {"cold", "warm", "warm_no_tests"}
    rows = result["builds"]["cold"]["rows"]
    assert rows["threads"] > 0 and rows == result["builds"]["warm"]["rows"]
    assert result["builds"]["cold"]["tests"] > 0 and result["builds"]["warm_no_tests"]["tests"] == 0
    assert result["cold_build_vs_load"] > 0 and result["report_bytes"] > 0
