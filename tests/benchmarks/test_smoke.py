"""Smoke test of the benchmark machinery: the `budget` scenario on `tiny` at a high time
scale, written through the runner's JSON writer. No timing assertions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import budget
from benchmarks.runner import machine, versions, write_document

pytestmark = pytest.mark.timeout(120)

BUDGET_KEYS = {"wall_s", "lower_bound_s", "efficiency", "n_429", "requests", "peer_wall_s",
               "peer_n_429", "peer_ratio", "engine_fanout", "fetch"}


def test_budget_scenario_on_tiny(tmp_path: Path) -> None:
    result = budget.measure("tiny", profile="internal", time_scale=300.0, engine=True,
                            peer_modes=("stock", "whole"), peer_timeout_s=60)
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
