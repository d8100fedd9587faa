"""Rich renderings: the live progress panel and the closing summary tables."""

from __future__ import annotations

from typing import Any

from rich.markup import escape
from rich.panel import Panel
from rich.table import Table


def progress_panel(progress: Any) -> Panel:
    snap = progress.snapshot()
    req = progress.request_stats()
    elapsed = max(snap["elapsed_s"], 1e-6)
    lines = [
        f"channels {snap['channels_done']}/{snap['channels_total']}   "
        f"messages {snap['messages']:,}   replies {snap['replies']:,}   "
        f"skipped {len(snap['skipped'])}   {elapsed:,.0f}s",
    ]
    for method, row in sorted(req.items()):
        rate = row.get("current_rate_per_min")
        per_min = row.get("requests", 0) / elapsed * 60
        budget = f" / budget {rate:,.0f}" if rate else ""
        lines.append(f"  {method:<24} {row.get('requests', 0):>7,} req  {per_min:>8,.0f}/min{budget}"
                     f"  429s {row.get('n_429', 0)}")
    return Panel("\n".join(lines), title="slack-ingest", expand=False)


def summary_tables(result: Any) -> list[Table]:
    snap = result.progress
    t = Table(title=f"Load summary ({result.pipeline_name}, {result.elapsed_s:,.1f}s)")
    t.add_column("table")
    t.add_column("rows", justify="right")
    for name, n in sorted(result.row_counts.items()):
        t.add_row(name, f"{n:,}")
    t.add_row("[dim]history messages read[/]", f"{snap['messages']:,}")
    t.add_row("[dim]thread replies read[/]", f"{snap['replies']:,}")
    t.add_row("[dim]channels read[/]", f"{snap['channels_done']:,} of {snap['channels_total']:,}")
    tables = [t]
    r = Table(title="Slack requests")
    for col in ("method", "requests", "pages", "429s", "retries", "budget wait s", "network s"):
        r.add_column(col, justify="right" if col != "method" else "left")
    for method, row in sorted(result.requests.items()):
        r.add_row(method, f"{row.get('requests', 0):,}", f"{row.get('pages', 0):,}",
                  str(row.get("n_429", 0)), str(row.get("retries", 0)),
                  f"{row.get('wait_budget_s', 0):,.1f}", f"{row.get('wait_network_s', 0):,.1f}")
    tables.append(r)
    if snap["skipped"]:
        s = Table(title="Channels not read")
        s.add_column("channel")
        s.add_column("why")
        for cid, why in sorted(snap["skipped"].items()):
            s.add_row(cid, why)
        tables.append(s)
    if snap.get("notes"):
        n = Table(title="Notes")
        n.add_column("note")
        for text in snap["notes"][:20]:
            n.add_row(escape(text))
        tables.append(n)
    return tables
