"""PNG plots: the budget timeline and the figures-vs-goals summary (matplotlib, Agg)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.common import rate_per_s  # noqa: E402

METHOD_COLORS = {
    "conversations.history": "tab:blue",
    "conversations.replies": "tab:orange",
    "conversations.list": "tab:green",
    "auth.test": "tab:gray",
}
BUDGET_LINE_METHODS = ("conversations.history", "conversations.replies")

#: (scenario, key, label, goal, higher_is_better)
GOALS: tuple[tuple[str, str, str, float | None, bool], ...] = (
    ("budget", "efficiency", "budget efficiency", 0.95, True),
    ("budget", "n_429", "budget 429s", 0.0, False),
    ("unlisted", "efficiency", "unlisted efficiency", 0.95, True),
    ("unlisted", "n_429", "unlisted 429s", 0.0, False),
    ("latency", "speedup_64", "latency speedup 64 vs 1", 25.0, True),
    # end to end both paths load through our loader (Parquet, bounded DuckDB) and share the
    # fetch and per-run costs: reported, while the goal (vs dlt's default path) is below
    ("throughput", "throughput_ratio", "fast/dict end to end", None, True),
    ("throughput", "pipeline_only.pipeline_ratio", "fast/dict pipeline only", 5.0, True),
    ("memory", "memory_growth", "memory growth medium/small-1", 0.10, False),
    ("peer_client", "peer_ratio", "slack-sdk wall / ours", None, True),
    ("peer_client", "peer_n_429", "slack-sdk 429s", None, False),
    ("prefect_overhead", "overhead_ratio", "Prefect flow / CLI wall", None, False),
)


def _get(doc: dict[str, Any], scenario: str, key: str) -> Any:
    value: Any = doc.get("scenarios", {}).get(scenario, {})
    for part in key.split("."):
        if not isinstance(value, dict):
            return None
        value = value.get(part)
    return value


def _rates(rows: list[list[Any]], bin_s: float, t0: float, nbins: int) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for t, method, status in rows:
        key = "429" if int(status) == 429 else str(method)
        series = out.setdefault(key, [0.0] * nbins)
        i = min(nbins - 1, max(0, int((float(t) - t0) / bin_s)))
        series[i] += 1.0 / bin_s
    return out


def _panel(
    ax: Any,
    rows: list[list[Any]],
    title: str,
    profile: str,
    time_scale: float,
    bin_s: float,
    nbins: int,
) -> None:
    if not rows:
        ax.set_title(f"{title}: no timeline")
        return
    t0 = min(float(r[0]) for r in rows)
    xs = [(i + 0.5) * bin_s for i in range(nbins)]
    rates = _rates(rows, bin_s, t0, nbins)
    for key, series in sorted(rates.items()):
        if key == "429":
            continue
        color = METHOD_COLORS.get(key)
        ax.step(
            xs, series, where="mid", color=color, linewidth=1.6, label=f"{key} (answered, not 429)"
        )
        ax.fill_between(xs, series, step="mid", color=color, alpha=0.15)
    by_rate: dict[float, list[str]] = {}
    for method in BUDGET_LINE_METHODS:
        rate = rate_per_s(profile, method, time_scale)
        if rate is not None and method in rates:
            by_rate.setdefault(rate, []).append(method.split(".")[-1])
    top = max([max(v) for k, v in rates.items() if k != "429"] + [1.0])
    for rate, names in by_rate.items():
        ax.axhline(
            rate,
            linestyle="--",
            color="black",
            linewidth=1.4,
            label=f"budget {rate:g}/s ({', '.join(names)})",
        )
        top = max(top, rate)
    ax.set_ylim(0, top * 1.3)
    if "429" in rates:
        twin = ax.twinx()
        twin.step(
            xs,
            rates["429"],
            where="mid",
            color="red",
            linewidth=1.0,
            alpha=0.8,
            label=f"429 answers (right axis, {sum(1 for r in rows if int(r[2]) == 429)})",
        )
        twin.set_ylabel("429 answers / s", color="red")
        twin.tick_params(axis="y", colors="red")
        twin.legend(loc="upper left", fontsize=8)
    ax.set_title(title)
    ax.set_ylabel("requests / s")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper right", fontsize=8)


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def budget_timeline(plot: dict[str, Any], path: Path) -> Path:
    """Requests per second per method over time vs each method's budget (dashed)."""
    profile = str(plot.get("profile", "internal"))
    time_scale = float(plot.get("time_scale", 1.0))
    panels = [(plot.get("ours") or [], "ours: AsyncSlackClient")]
    if plot.get("peer"):
        panels.append((plot["peer"], "slack-sdk AsyncWebClient + RateLimitErrorRetryHandler"))
    span = max(
        (
            max(float(r[0]) for r in rows) - min(float(r[0]) for r in rows)
            for rows, _ in panels
            if rows
        ),
        default=1.0,
    )
    bin_s = max(0.2, span / 40.0)
    nbins = max(1, math.ceil(span / bin_s) + 1)
    fig, axes = plt.subplots(
        len(panels), 1, figsize=(10, 3.8 * len(panels)), sharex=True, squeeze=False
    )
    for ax, (rows, title) in zip(axes[:, 0], panels, strict=True):
        _panel(ax, rows, title, profile, time_scale, bin_s, nbins)
    axes[-1, 0].set_xlabel(
        f"seconds since the first request (bins of {bin_s:.2f} s; "
        f"profile {profile}, time scale {time_scale:g}x)"
    )
    fig.suptitle("Slack budget use during a backfill (dashed: the budget)")
    return _save(fig, path)


def summary(doc: dict[str, Any], path: Path) -> Path:
    """One small bar chart per figure, its goal dashed; green = goal met."""
    items = [(label, _get(doc, sc, key), goal, hib) for sc, key, label, goal, hib in GOALS]
    items = [it for it in items if isinstance(it[1], int | float)]
    cols = 4
    rows = max(1, math.ceil(len(items) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.8 * rows), squeeze=False)
    for ax in axes.flat:
        ax.set_visible(False)
    for ax, (label, value, goal, hib) in zip(axes.flat, items, strict=False):
        ax.set_visible(True)
        met = None if goal is None else (value >= goal if hib else value <= goal)
        color = "tab:gray" if met is None else ("tab:green" if met else "tab:red")
        ax.bar([0], [value], color=color, width=0.5)
        ax.text(
            0,
            value,
            f"{value:.3g}",
            ha="center",
            va="bottom",
            fontsize=11,
            color="black" if met is None else color,
            fontweight="bold",
        )
        top = max(value, goal or 0, 1.0 if goal is None else 0) * 1.25 or 1.0
        if goal is not None:
            ax.axhline(goal, linestyle="--", color="black", linewidth=1)
        ax.set_ylim(0, top)
        ax.set_xticks([])
        sign = ">=" if hib else "<="
        ax.set_title(
            f"{label}\n" + (f"goal {sign} {goal:g}" if goal is not None else "no goal"), fontsize=9
        )
    quick = " (--quick)" if doc.get("quick") else ""
    fig.suptitle(f"slack-ingest benchmarks{quick}: figures vs goals (dashed)")
    return _save(fig, path)
