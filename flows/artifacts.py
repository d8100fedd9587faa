"""The run summary: a markdown artifact (shards, requests, skipped channels and why) and a
table artifact (per channel: shard, messages and replies written this run).

Nothing secret goes in: only ids, counts, timings and one-line error explanations (which
ingest redacts).
"""

from __future__ import annotations

import re
from typing import Any

from ingest.load.target import Target


def artifact_key(kind: str, target: Target) -> str:
    """Artifact keys allow lowercase letters, digits and dashes only."""
    raw = f"slack-ingest-{kind}-{target.dataset}"
    return re.sub(r"[^a-z0-9-]+", "-", raw.lower()).strip("-")


def sum_requests(parts: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for part in parts:
        for method, row in (part.get("requests") or {}).items():
            acc = out.setdefault(method, {})
            for key in (
                "requests",
                "pages",
                "items",
                "n_429",
                "retries",
                "wait_budget_s",
                "wait_network_s",
            ):
                value = row.get(key)
                if isinstance(value, int | float):
                    acc[key] = acc.get(key, 0) + value
    return out


def _total(requests: dict[str, dict[str, float]], key: str) -> float:
    return sum(row.get(key, 0) for row in requests.values())


def channel_label(cid: str, names: dict[str, str] | None) -> str:
    """'#general (C123)', or the id alone when its name is unknown."""
    name = (names or {}).get(cid) or ""
    return f"#{name} ({cid})" if name else cid


def names_of(summary: dict[str, Any]) -> dict[str, str]:
    """Channel names the summary knows (its per-channel rows carry them)."""
    return {
        r["channel"]: r["name"]
        for r in summary.get("channels") or []
        if r.get("name") and r.get("channel")
    }


def channel_counts(summary: dict[str, Any]) -> dict[str, int]:
    """Channels that add up: selected = read + not read (+ unfinished: planned channels of
    a shard that failed). `read`: history read to the end by a shard this run; `not read`:
    skipped (not a member, failed to join, gone mid-run)."""
    read_ids: set[str] = set()
    for s in summary.get("shards") or []:
        read_ids.update(((s.get("progress") or {}).get("channels") or {}).keys())
    skipped = summary.get("skipped") or {}
    not_read = {cid for cid in skipped if cid not in read_ids}
    planned = int(summary.get("channels_planned", 0))
    # planned (readable at the start) = read + skipped mid-run + unfinished
    planned_ids: set[str] = set()
    for s in summary.get("shards") or []:
        planned_ids.update(s.get("channels") or [])
    unfinished = (
        len(planned_ids - read_ids - not_read) if planned_ids else max(0, planned - len(read_ids))
    )
    return {
        "selected": len(read_ids) + len(not_read) + unfinished,
        "read": len(read_ids),
        "not_read": len(not_read),
        "unfinished": unfinished,
    }


def channels_line(summary: dict[str, Any]) -> str:
    c = channel_counts(summary)
    text = f"{c['selected']:,} selected: {c['read']:,} read, {c['not_read']:,} not read"
    if c["unfinished"]:
        text += f", {c['unfinished']:,} unfinished (their shard failed)"
    return text


def shard_rows(shards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    rows = []
    for s in shards:
        req = s.get("requests") or {}
        prog = s.get("progress") or {}
        rows.append(
            {
                "shard": s.get("label", "?"),
                "state": s.get("state", "ok"),
                "channels": len(s.get("channels") or []),
                "messages": prog.get("messages", 0),
                "replies": prog.get("replies", 0),
                "requests": int(_total(req, "requests")),
                "429s": int(_total(req, "n_429")),
                "retries": int(_total(req, "retries")),
                "attempts": s.get("attempt", 1),
                "seconds": round(float(s.get("elapsed_s", 0.0)), 1),
                "error": s.get("error", ""),
            }
        )
    return rows


def _md_table(rows: list[dict[str, Any]]) -> str:
    if not rows:
        return "_none_\n"
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for r in rows:
        lines.append("| " + " | ".join(str(r[c]).replace("|", "/") for c in cols) + " |")
    return "\n".join(lines) + "\n"


def summary_markdown(summary: dict[str, Any]) -> str:
    req = summary.get("requests") or {}
    t = summary.get("target") or {}
    where = t.get("duckdb_path") if t.get("destination") == "duckdb" else t.get("destination")
    verdict = "completed" if summary.get("ok") else "FAILED"
    parts = [
        f"# Slack load {verdict}\n",
        f"- destination: `{t.get('destination')}` ({where}), dataset `{t.get('dataset')}`",
        f"- shards: {summary.get('n_shards')} ({summary.get('mode')}), max concurrency "
        f"{summary.get('max_concurrency')}, wall time {summary.get('wall_s', 0):.1f} s",
        f"- channels: {channels_line(summary)}; messages read "
        f"{summary.get('messages', 0):,}, thread replies read {summary.get('replies', 0):,}",
        f"- Slack requests: {int(_total(req, 'requests')):,}, 429s: "
        f"{int(_total(req, 'n_429'))}, retries: {int(_total(req, 'retries'))}\n",
    ]
    if summary.get("error"):
        parts.append(f"**Error:** {summary['error']}\n")
    parts += ["## Shards\n", _md_table(shard_rows(summary.get("shards") or [])), ""]
    method_rows = [
        {
            "method": m,
            "requests": int(r.get("requests", 0)),
            "429s": int(r.get("n_429", 0)),
            "retries": int(r.get("retries", 0)),
            "budget wait s (summed over requests)": round(r.get("wait_budget_s", 0.0), 1),
        }
        for m, r in sorted(req.items())
    ]
    parts += [
        "## Slack requests by method\n",
        _md_table(method_rows),
        "_Waits are summed over concurrent requests: they can exceed the wall time._\n",
        "",
    ]
    names = names_of(summary)
    skipped = [
        {"channel": channel_label(c, names), "why": w}
        for c, w in sorted((summary.get("skipped") or {}).items())
    ]
    parts += ["## Channels not read\n", _md_table(skipped), ""]
    if summary.get("settled"):
        rows = [{"pipeline": k, "action": v} for k, v in sorted(summary["settled"].items())]
        parts += ["## Pending packages from earlier runs\n", _md_table(rows), ""]
    return "\n".join(parts)


def publish_summary(summary: dict[str, Any], target: Target) -> None:
    from prefect.artifacts import create_markdown_artifact, create_table_artifact

    create_markdown_artifact(
        markdown=summary_markdown(summary),
        key=artifact_key("summary", target),
        description="slack-ingest run summary",
        _sync=True,
    )  # type: ignore[call-arg]  # (Prefect's sync dispatch)
    channels = summary.get("channels") or []
    if channels:
        create_table_artifact(
            table=channels,
            key=artifact_key("channels", target),
            description="per channel: messages and replies, shard, status",
            _sync=True,
        )  # type: ignore[call-arg]


def channel_rows(
    target: Target,
    shards: list[dict[str, Any]],
    skipped: dict[str, str],
    names: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """Per channel: name, shard, status, and messages and replies: read this run when the
    load's progress reports per-channel counts, else (DuckDB) the totals in the dataset.
    Names: `names` (the flow's channel plan has them), else the dataset's channels table."""
    if names is None:
        names = dataset_channel_names(target)
    totals: dict[str, tuple[int, int]] | None = None
    rows: list[dict[str, Any]] = []
    for s in shards:
        per_run = (s.get("progress") or {}).get("channels") or {}
        for cid in s.get("channels") or []:
            if cid in per_run:
                n_msg = int(per_run[cid].get("messages", 0))
                n_rep = int(per_run[cid].get("replies", 0))
                counted = "this run"
            else:
                if totals is None:
                    totals = dataset_counts(target)
                n_msg, n_rep = totals.get(cid, (0, 0))
                counted = "in dataset"
            rows.append(
                {
                    "channel": cid,
                    "name": names.get(cid, ""),
                    "shard": s.get("label", "?"),
                    "messages": n_msg,
                    "replies": n_rep,
                    "counted": counted,
                    "status": skipped.get(cid) or s.get("state", "ok"),
                }
            )
    listed = {r["channel"] for r in rows}
    for cid, why in sorted(skipped.items()):
        if cid not in listed:
            rows.append(
                {
                    "channel": cid,
                    "name": names.get(cid, ""),
                    "shard": "-",
                    "messages": 0,
                    "replies": 0,
                    "counted": "-",
                    "status": f"skipped: {why}",
                }
            )
    return rows


def dataset_channel_names(target: Target) -> dict[str, str]:
    """channel id -> name from a DuckDB dataset's channels table ({} elsewhere)."""
    rows = _duckdb_rows(target, f"select id, name from {target.dataset}.channels")
    return {str(r[0]): str(r[1] or "") for r in rows}


def _duckdb_rows(target: Target, sql: str) -> list[tuple[Any, ...]]:
    if target.destination != "duckdb":
        return []
    import duckdb

    try:
        con = duckdb.connect(target.location(), read_only=True)
    except duckdb.Error:
        return []
    try:
        return con.execute(sql).fetchall()
    except duckdb.Error:
        return []
    finally:
        con.close()


def dataset_counts(target: Target) -> dict[str, tuple[int, int]]:
    """channel -> (messages, thread replies) in a DuckDB dataset ({} elsewhere)."""
    if target.destination != "duckdb":
        return {}
    import duckdb

    sql = (
        f"select channel_id, count(*), count(*) filter (where is_reply) "
        f"from {target.dataset}.messages group by channel_id"
    )
    try:
        con = duckdb.connect(target.location(), read_only=True)
    except duckdb.Error:
        return {}
    try:
        return {r[0]: (int(r[1]), int(r[2])) for r in con.execute(sql).fetchall()}
    except duckdb.Error:
        return {}
    finally:
        con.close()
