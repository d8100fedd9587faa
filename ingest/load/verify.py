"""Compare a DuckDB destination with the simulator's ground truth (demo, tests, benchmarks)."""

from __future__ import annotations

from typing import Any

import duckdb

from ingest.load.target import Target


def loaded_keys(target: Target) -> dict[str, Any]:
    con = duckdb.connect(target.location(), read_only=True)
    try:
        ds = target.dataset

        def rows(sql: str) -> list[tuple[Any, ...]]:
            try:
                return con.execute(sql).fetchall()
            except duckdb.CatalogException:
                return []

        return {
            "messages": rows(
                f"select channel_id, ts from {ds}.messages where not coalesce(is_deleted, false)"
            ),
            "channels": [r[0] for r in rows(f"select id from {ds}.channels")],
            "users": [r[0] for r in rows(f"select id from {ds}.users")],
            "members": rows(f"select channel_id, user_id from {ds}.channel_members"),
        }
    finally:
        con.close()


def _cmp(loaded: list[Any], truth: frozenset[Any]) -> dict[str, Any]:
    got = set(loaded)
    return {
        "loaded": len(loaded),
        "expected": len(truth),
        "duplicates": len(loaded) - len(got),
        "missing": len(truth - got),
        "unexpected": len(got - truth),
        "ok": len(loaded) == len(got) and got == set(truth),
    }


def compare_with_truth(target: Target, truth: Any) -> dict[str, Any]:
    keys = loaded_keys(target)
    result: dict[str, Any] = {
        "messages": _cmp([tuple(r) for r in keys["messages"]], truth.messages),
        "channels": _cmp(keys["channels"], truth.channel_ids),
        "users": _cmp(keys["users"], truth.user_ids),
        "members": _cmp([tuple(r) for r in keys["members"]], truth.members),
    }
    result["ok"] = all(v["ok"] for v in result.values())
    return result
