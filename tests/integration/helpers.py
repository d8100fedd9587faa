"""Helpers for loading simulator workspaces and checking the destination."""

from __future__ import annotations

from typing import Any

import duckdb

from ingest.load.run import LoadResult, Target, run_load
from ingest.load.verify import compare_with_truth
from ingest.source import LoadSettings

#: History pages of 200 (the default is 999), for tests that need many checkpoints (and so
#: many slices) in a small workspace.
PAGES_200 = {"conversations.history": {"page_size": 200}}


def settings_for(sim: Any, **kw: Any) -> LoadSettings:
    base = {"base_url": sim.base_url, "profile": "unlimited", "lookback_days": 36500.0}
    base.update(kw)
    return LoadSettings(**base).validate()


def load(sim: Any, target: Target, **kw: Any) -> LoadResult:
    return run_load(sim.workspace.token, settings_for(sim, **kw), target)


def assert_matches_truth(target: Target, truth: Any) -> dict[str, Any]:
    check = compare_with_truth(target, truth)
    bad = {k: v for k, v in check.items() if k != "ok" and not v["ok"]}
    assert check["ok"], f"destination differs from truth: {bad}"
    return check


def query(target: Target, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(target.location(), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()
