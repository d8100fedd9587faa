"""Rich renderings: the live progress panel and the closing summary tables.

Units on screen are the budget's: at `time_scale` 60 a Slack minute lasts one real second,
so request rates are shown per Slack minute (labelled so) beside the per-minute budget.
Waits summed over concurrent requests are labelled as sums (they exceed the wall time).
Channels are shown as `#name (id)` wherever a name is known.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table


def channel_label(cid: str, names: Mapping[str, str] | None) -> str:
    """'#general (C123)', 'group DM mpdm-a--b-1 (G123)', 'DM D123' (an im has no name), or
    the id alone when its name is unknown."""
    name = (names or {}).get(cid) or ""
    if name.startswith("mpdm-"):
        return f"group DM {name} ({cid})"
    if not name and cid.startswith("D"):
        return f"DM {cid}"
    return f"#{name} ({cid})" if name else cid


def rate_unit(time_scale: float) -> str:
    """'/min' for real time; '/Slack min' when budgets run time-scaled."""
    return "/min" if time_scale == 1 else "/Slack min"


def requests_per_budget_minute(requests: float, elapsed_s: float, time_scale: float) -> float:
    """Requests per minute in the budget's unit: a Slack minute lasts 60 / time_scale real
    seconds, so the real-time rate is divided by time_scale."""
    return requests / max(elapsed_s, 1e-6) * 60.0 / (time_scale or 1.0)


def progress_panel(progress: Any, time_scale: float = 1.0) -> Panel:
    snap = progress.snapshot()
    req = progress.request_stats()
    elapsed = max(snap["elapsed_s"], 1e-6)
    unit = rate_unit(time_scale)
    lines = [
        f"channels {snap['channels_done']}/{snap['channels_total']}   "
        f"messages {snap['messages']:,}   replies {snap['replies']:,}   "
        f"skipped {len(snap['skipped'])}   {elapsed:,.0f}s",
    ]
    if time_scale != 1:
        lines.append(
            f"  rates per Slack minute (time scale {time_scale:g}x: one Slack minute "
            f"= {60 / time_scale:g} s)"
        )
    for method, row in sorted(req.items()):
        rate = row.get("current_rate_per_min")
        per_min = requests_per_budget_minute(row.get("requests", 0), elapsed, time_scale)
        budget = f" / budget {rate:,.0f}{unit}" if rate else ""
        lines.append(
            f"  {method:<24} {row.get('requests', 0):>7,} req  {per_min:>8,.0f}{unit}"
            f"{budget}  429s {row.get('n_429', 0)}"
        )
    return Panel("\n".join(lines), title="slack-ingest", expand=False)


def channel_counts(snap: Mapping[str, Any]) -> dict[str, int]:
    """Channels of a finished run, counted so they add up: selected = read + not read.
    `read`: history read to the end; `not read`: skipped (not a member, failed to join, or
    gone mid-run), each listed under "Channels not read"."""
    read_ids = set(snap.get("channels") or {})
    read = max(int(snap.get("channels_done", 0)), len(read_ids))
    not_read = sum(1 for cid in (snap.get("skipped") or {}) if cid not in read_ids)
    return {"selected": read + not_read, "read": read, "not_read": not_read}


def channels_line(snap: Mapping[str, Any]) -> str:
    c = channel_counts(snap)
    return f"{c['selected']:,} selected: {c['read']:,} read, {c['not_read']:,} not read"


def summary_tables(result: Any, channel_names: Mapping[str, str] | None = None) -> list[Table]:
    snap = result.progress
    t = Table(title=f"Load summary ({result.pipeline_name}, {result.elapsed_s:,.1f}s)")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in sorted(result.row_counts.items()):
        t.add_row(name, f"{n:,}")
    t.add_row("[dim]history messages read[/]", f"{snap['messages']:,}")
    t.add_row("[dim]thread replies read[/]", f"{snap['replies']:,}")
    t.add_row("[dim]channels[/]", channels_line(snap))
    tables = [t]
    r = Table(
        title="Slack requests (waits are summed over concurrent requests: they can "
        "exceed the wall time)"
    )
    cols = (
        "method",
        "requests",
        "pages",
        "429s",
        "retries",
        "budget wait s (sum)",
        "network s (sum)",
    )
    for col in cols:
        r.add_column(col, justify="right" if col != "method" else "left")
    for method, row in sorted(result.requests.items()):
        r.add_row(
            method,
            f"{row.get('requests', 0):,}",
            f"{row.get('pages', 0):,}",
            str(row.get("n_429", 0)),
            str(row.get("retries", 0)),
            f"{row.get('wait_budget_s', 0):,.1f}",
            f"{row.get('wait_network_s', 0):,.1f}",
        )
    tables.append(r)
    if snap["skipped"]:
        read_ids = set(snap.get("channels") or {})
        s = Table(title="Channels not read")
        s.add_column("channel")
        s.add_column("why")
        for cid, why in sorted(snap["skipped"].items()):
            if cid in read_ids:  # history read; only its members could not be
                why = f"history read; members not read: {why}"
            s.add_row(escape(channel_label(cid, channel_names)), escape(why))
        tables.append(s)
    if snap.get("notes"):
        n = Table(title="Notes")
        n.add_column("note")
        for text in snap["notes"][:20]:
            n.add_row(escape(text))
        tables.append(n)
    return tables


def workspaces_table(teams: Mapping[str, Any]) -> Table:
    """An org load: one row per workspace (its own load, its own budgets)."""
    t = Table(title="Workspaces (each with its own Slack budgets)")
    for col in ("workspace", "channels", "messages", "replies", "requests", "429s", "seconds"):
        t.add_column(col, justify="left" if col == "workspace" else "right")
    for team, result in sorted(teams.items()):
        snap = result.progress
        reqs = result.requests.values()
        t.add_row(
            team,
            f"{snap['channels_done']:,}/{snap['channels_total']:,}",
            f"{snap['messages']:,}",
            f"{snap['replies']:,}",
            f"{sum(r.get('requests', 0) for r in reqs):,}",
            str(sum(r.get("n_429", 0) for r in reqs)),
            f"{result.elapsed_s:,.1f}",
        )
    return t
