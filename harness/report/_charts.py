"""The report's charts, drawn with matplotlib's Agg backend into PNG bytes: four for
every run, and the budget story for a run with budgets and without.

Every chart is drawn from arrays reduced first (a histogram's counts, a few hundred
quantiles per model, one point per model), so a million trials cost little more than a
hundred. The PNG carries no date and no software tag, so the same trials give the
same bytes. Each chart names the transport its numbers come from: a simulated run
measures the architecture under modelled model behaviour, not a model.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullFormatter

#: File name of each chart, in the order the page shows them.
CHART_FILES = ("cost-hist.png", "cost-cdf.png", "frontier.png", "outcomes-by-fault.png")
OUTCOMES = ("done", "failed", "budget_exhausted", "escalated", "crashed")
_OUTCOME_COLOURS = {"done": "#2e7d32", "failed": "#c62828", "budget_exhausted": "#ef6c00",
                    "escalated": "#6a1b9a", "crashed": "#424242"}
_TRANSPORT_NOTES = {
    "simulated": "simulated transport: the architecture under modelled model behaviour, "
                 "not a real model's intelligence",
    "replay": "replay transport: recorded replies of the real model",
    "live": "live transport: the real model",
}
_CDF_POINTS = 400
#: Below this many trials every one is drawn: a cut axis only helps a long tail of many.
_TRIM_FROM = 1000
_DPI = 100

plt.rcParams.update({"font.size": 9, "svg.hashsalt": "harness", "figure.max_open_warning": 0})


def transports(trials: pd.DataFrame) -> list[str]:
    if "transport" not in trials.columns:
        return []
    return sorted(str(t) for t in pd.unique(trials["transport"].dropna()))


def transport_note(names: list[str]) -> str:
    """One sentence saying what the figures measure, from the trials' ``transport`` column."""
    if not names:
        return "transport not recorded: the source does not say whether a real model ran"
    return "; ".join(_TRANSPORT_NOTES.get(n, f"{n} transport") for n in names)


def _codes(trials: pd.DataFrame, column: str) -> tuple[np.ndarray[Any, np.dtype[np.intp]], list[str]]:
    """Integer codes and sorted labels of a column (``(none)`` where absent): counting by
    code with ``np.bincount`` is what keeps a million trials cheap."""
    if column not in trials.columns:
        return np.zeros(len(trials), dtype=np.intp), ["(none)"]
    codes, uniques = pd.factorize(trials[column], sort=True, use_na_sentinel=True)
    labels = [str(u) for u in uniques]
    if (codes < 0).any():
        codes = np.where(codes < 0, len(labels), codes)
        labels.append("(none)")
    return np.asarray(codes, dtype=np.intp), labels


def _cost_array(trials: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    """Cost per trial, NaN where absent (one per row, aligned with ``_codes``)."""
    if "cost_usd" not in trials.columns:
        return np.full(len(trials), np.nan)
    return np.asarray(pd.to_numeric(trials["cost_usd"], errors="coerce")
                      .to_numpy(dtype=np.float64, na_value=np.nan))


def _goal_array(trials: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.bool_]]:
    return np.asarray(trials["goal_met"].fillna(False).to_numpy(dtype=bool))


@dataclass(frozen=True)
class Coded:
    """The columns the charts read, turned into arrays once: cost, goal, and integer codes
    with sorted labels for model, fault profile and outcome."""

    cost: np.ndarray[Any, np.dtype[np.float64]]
    goal: np.ndarray[Any, np.dtype[np.bool_]]
    model: tuple[np.ndarray[Any, np.dtype[np.intp]], list[str]]
    fault: tuple[np.ndarray[Any, np.dtype[np.intp]], list[str]]
    outcome: tuple[np.ndarray[Any, np.dtype[np.intp]], list[str]]
    transports: list[str]

    @property
    def size(self) -> int:
        return len(self.goal)

    @classmethod
    def of(cls, trials: pd.DataFrame | Coded) -> Coded:
        if isinstance(trials, Coded):
            return trials
        return cls(cost=_cost_array(trials), goal=_goal_array(trials),
                   model=_codes(trials, "model"), fault=_codes(trials, "fault_profile"),
                   outcome=_codes(trials, "outcome"), transports=transports(trials))


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # no Software or date chunk: the same input gives the same bytes
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _figure(title: str, note: str, *, left: float = 0.1, bottom: float = 0.13) -> tuple[Figure, Any]:
    # fixed margins rather than a layout engine: one draw per chart instead of three
    fig, ax = plt.subplots(figsize=(7.2, 4.2))
    fig.subplots_adjust(left=left, right=0.97, top=0.86, bottom=bottom)
    fig.suptitle(title, fontsize=11, x=0.01, y=0.98, ha="left")
    fig.text(0.01, 0.915, note, fontsize=7, color="#555555", ha="left", va="center")
    return fig, ax


def _empty(ax: Any, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def _costs(data: Coded) -> np.ndarray[Any, np.dtype[np.float64]]:
    c = data.cost
    kept: np.ndarray[Any, np.dtype[np.float64]] = c[~np.isnan(c)]
    return kept


def _shown_max(costs: np.ndarray[Any, np.dtype[np.float64]], p999: float, p99: Any) -> float:
    """The x axis ends past P99 and the 99.9th percentile, not at a far outlier that would
    squeeze every other trial into one bar; what lies beyond is counted on the chart."""
    if costs.size < _TRIM_FROM:
        return float(costs.max())
    top = max(p999, float(p99 or 0.0) * 1.15)
    return float(costs.max()) if top >= costs.max() or top <= costs.min() else top


def _note_beyond(ax: Any, beyond: int, top: float) -> None:
    if beyond:
        ax.text(0.99, 0.5, f"{beyond:,} trial(s) above ${top:.4f} not drawn", ha="right",
                va="center", transform=ax.transAxes, fontsize=7, color="#555555")


def cost_histogram(data: Coded, overall: dict[str, Any] | None, note: str) -> bytes:
    fig, ax = _figure("Cost per trial", note, left=0.13)
    costs = _costs(data)
    if costs.size == 0:
        _empty(ax, "no cost recorded")
        return _png(fig)
    cost = (overall or {}).get("cost_usd") or {}
    p50, p99, p999 = (float(q) for q in np.quantile(costs, [0.5, 0.99, 0.999]))
    p50, p99 = cost.get("p50", p50), cost.get("p99", p99)
    top = _shown_max(costs, p999, p99)
    counts, edges = np.histogram(costs, bins=min(60, max(5, int(np.sqrt(costs.size)))),
                                 range=(float(costs.min()), top))
    ax.stairs(counts, edges, fill=True, color="#90caf9", edgecolor="#1565c0", linewidth=0.6)
    _note_beyond(ax, int((costs > top).sum()), top)
    ax.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:,.0f}"))
    lo, hi = ax.get_xlim()
    for value, label, colour, y in ((p50, "P50", "#2e7d32", 0.95), (p99, "P99", "#c62828", 0.87)):
        if value is None:
            continue
        right = value > (lo + hi) / 2  # label on the side with room
        ax.axvline(value, color=colour, linestyle="--", linewidth=1.2)
        ax.annotate(f"{label} ${value:.4f}", (value, y), xycoords=("data", "axes fraction"),
                    xytext=(-4 if right else 4, 0), textcoords="offset points", color=colour,
                    fontsize=8, ha="right" if right else "left",
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})
    ax.set_xlabel("cost per trial (USD)")
    ax.set_ylabel("trials")
    return _png(fig)


def cost_cdf(data: Coded, note: str) -> bytes:
    fig, ax = _figure("Cost per trial, cumulative, by model", note, left=0.11)
    cost = data.cost
    valid = ~np.isnan(cost)
    if not valid.any():
        _empty(ax, "no cost recorded")
        return _png(fig)
    codes, labels = data.model
    probs = np.linspace(0.0, 1.0, _CDF_POINTS)
    shown = cost[valid]
    top = _shown_max(shown, float(np.quantile(shown, 0.999)), None)
    for k, model in enumerate(labels):
        costs = cost[valid & (codes == k)]
        if costs.size == 0:
            continue
        ax.step(np.quantile(costs, probs), probs, where="post", label=f"{model} (n={costs.size:,})",
                linewidth=1.3)
    ax.set_xlim(left=min(0.0, float(shown.min())))
    if top < shown.max():
        ax.set_xlim(right=top)
        _note_beyond(ax, int((shown > top).sum()), top)
    ax.set_xlabel("cost per trial (USD)")
    ax.set_ylabel("share of trials costing at most x")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def frontier_points(trials: pd.DataFrame | Coded) -> list[dict[str, Any]]:
    """Mean cost and goal completion per model, and which are dominated: another model
    completes at least as often for no more money, and is better on one of the two."""
    data = Coded.of(trials)
    if data.size == 0:
        return []
    cost = data.cost
    codes, labels = data.model
    n = np.bincount(codes, minlength=len(labels))
    done = np.bincount(codes, weights=data.goal, minlength=len(labels))
    valid = ~np.isnan(cost)
    paid = np.bincount(codes[valid], weights=cost[valid], minlength=len(labels))
    priced = np.bincount(codes[valid], minlength=len(labels))
    pts = [(labels[k], float(done[k] / n[k]), float(paid[k] / priced[k]), int(n[k]))
           for k in range(len(labels)) if priced[k] > 0]
    return [{"model": m, "completion": rate, "cost": cost_, "n": count,
             "dominated": any(r2 >= rate and c2 <= cost_ and (r2 > rate or c2 < cost_)
                              for m2, r2, c2, _ in pts if m2 != m)}
            for m, rate, cost_, count in pts]


def frontier(pts: list[dict[str, Any]], note: str) -> bytes:
    fig, ax = _figure("Cost versus goal completion, by model", note)
    if not pts:
        _empty(ax, "no cost recorded")
        return _png(fig)
    costs = [p["cost"] for p in pts]
    lo, hi = min(costs), max(costs)
    ax.margins(x=0.12)
    best = sorted((p for p in pts if not p["dominated"]), key=lambda p: p["cost"])
    if len(best) > 1:
        ax.plot([p["cost"] for p in best], [p["completion"] for p in best], color="#1565c0",
                linewidth=1, zorder=1, label="frontier")
    for p in pts:
        dom = p["dominated"]
        ax.scatter([p["cost"]], [p["completion"]], s=60, zorder=2,
                   marker="x" if dom else "o", color="#9e9e9e" if dom else "#1565c0")
        right = len(pts) > 1 and p["cost"] > (lo + hi) / 2  # label on the side with room
        ax.annotate(f"{p['model']}{' (dominated)' if dom else ''}", (p["cost"], p["completion"]),
                    xytext=(-6 if right else 6, 5), textcoords="offset points", fontsize=8,
                    ha="right" if right else "left", color="#757575" if dom else "#0d47a1")
    ax.set_xlabel("mean cost per trial (USD)")
    ax.set_ylabel("goal completion rate")
    ax.set_ylim(-0.05, 1.1)
    ax.grid(alpha=0.3)
    return _png(fig)


def outcomes_by_fault(data: Coded, note: str) -> bytes:
    fig, ax = _figure("Outcomes by fault profile", note, left=0.25, bottom=0.2)
    if data.size == 0:
        _empty(ax, "no trials")
        return _png(fig)
    fcodes, faults = data.fault
    ocodes, outcomes = data.outcome
    table = np.bincount(fcodes * len(outcomes) + ocodes, minlength=len(faults) * len(outcomes))
    table = table.reshape(len(faults), len(outcomes))
    totals = table.sum(axis=1)
    kinds = [o for o in OUTCOMES if o in outcomes] + [o for o in outcomes if o not in OUTCOMES]
    y = np.arange(len(faults))
    left = np.zeros(len(faults))
    for kind in kinds:
        vals = table[:, outcomes.index(kind)] / np.maximum(totals, 1)
        ax.barh(y, vals, left=left, color=_OUTCOME_COLOURS.get(kind, "#bdbdbd"), label=kind,
                height=0.6)
        left += vals
    ax.set_yticks(y, [f"{f} (n={int(t):,})" for f, t in zip(faults, totals, strict=True)])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of trials")
    ax.legend(loc="upper center", bbox_to_anchor=(0.4, -0.14), ncol=len(kinds), fontsize=8,
              frameon=False)
    return _png(fig)


def overall_group(summary: dict[str, Any]) -> dict[str, Any] | None:
    for g in summary.get("groups", []):
        if all(v is None for v in g.get("by", {}).values()):
            return dict(g)
    return None


def render_charts(trials: pd.DataFrame | Coded, summary: dict[str, Any],
                  points: list[dict[str, Any]] | None = None) -> dict[str, bytes]:
    """Each chart's PNG bytes, keyed by its file name: the budget story first when the run
    holds trials with budgets and without (it needs the trials' suites, so ``trials`` must
    then be the frame), then the four charts of every run."""
    data = Coded.of(trials)
    note = transport_note(data.transports)
    story = summary.get("budget_story") or []
    first = ({BUDGET_STORY: budget_story_chart(trials, story, note)}
             if story and isinstance(trials, pd.DataFrame) else {})
    return {
        **first,
        "cost-hist.png": cost_histogram(data, overall_group(summary), note),
        "cost-cdf.png": cost_cdf(data, note),
        "frontier.png": frontier(frontier_points(data) if points is None else points, note),
        "outcomes-by-fault.png": outcomes_by_fault(data, note),
    }


BUDGET_STORY = "budget_story.png"
_VARIANT_STYLE = {"on": ("with budgets", "#1565c0"), "off": ("without budgets", "#c62828")}


def _suite_costs(trials: pd.DataFrame) -> dict[tuple[str, str], np.ndarray[Any, np.dtype[np.float64]]]:
    """Cost per trial by (suite, budgets variant), NaN left out."""
    cost = _cost_array(trials)
    suite = trials["suite"].to_numpy(dtype=object)
    variant = trials["budgets"].to_numpy(dtype=object)
    out: dict[tuple[str, str], np.ndarray[Any, np.dtype[np.float64]]] = {}
    for s in pd.unique(suite):
        for v in ("on", "off"):
            picked = cost[(suite == s) & (variant == v)]
            out[(str(s), v)] = picked[~np.isnan(picked)]
    return out


def _pct_ci(d: dict[str, Any]) -> str:
    lo, hi = d["goal_completion_ci"]
    return f"{d['goal_completion_rate']:.0%} [{lo:.2f}, {hi:.2f}]"


def _dollars(x: float, _: Any = None) -> str:
    return f"${x:.2g}" if x < 1 else f"${x:,.0f}"


def _some_dollars(x: float, _: Any = None) -> str:
    """Minor ticks at 2x and 5x a power of ten only, so their labels never collide."""
    lead = round(x / 10 ** np.floor(np.log10(x)), 6) if x > 0 else 0
    return _dollars(x) if lead in (2.0, 5.0) else ""


def budget_story_chart(trials: pd.DataFrame, story: list[dict[str, Any]], note: str) -> bytes:
    """Per suite, the cost CDFs of the budgeted and unbudgeted trials overlaid on a log
    axis, each variant's P99 marked, and completion with its interval in the legend: what
    the limits hold back, and what they cost."""
    suites = [e for e in story if e["suite"] is not None]
    n = max(1, len(suites))
    cols = 1 if n == 1 else 2
    rows = (n + cols - 1) // cols
    # inches: title and note, each panel, and under it its axis label and legend (and the
    # next panel's title)
    head_in, panel_in, below_in, title_in = 0.8, 2.4, 1.0, 0.3
    height = head_in + rows * panel_in + (rows - 1) * (below_in + title_in) + below_in
    fig, axes = plt.subplots(rows, cols, figsize=(6.4 * cols, height), squeeze=False)
    fig.subplots_adjust(left=0.07 if cols == 2 else 0.12, right=0.98,
                        top=1 - head_in / height, bottom=below_in / height,
                        hspace=(below_in + title_in) / panel_in, wspace=0.2)
    fig.suptitle("The budget story: cost per task with budgets and without", fontsize=11,
                 x=0.01, y=1 - 0.12 / height, ha="left", va="top")
    fig.text(0.01, 1 - 0.45 / height, note, fontsize=7, color="#555555", ha="left",
             va="center")
    costs = _suite_costs(trials) if suites else {}
    probs = np.linspace(0.0, 1.0, _CDF_POINTS)
    for ax in axes.flat[len(suites):]:
        ax.set_visible(False)
    for ax, entry in zip(axes.flat, suites, strict=False):
        name = str(entry["suite"])
        ratio = entry.get("p99_ratio")
        ax.set_title(name + (f"   P99 without budgets: {ratio:.1f}x" if ratio else ""),
                     fontsize=9, loc="left")
        drawn = [(v, costs[(name, v)], entry[v]) for v in ("on", "off")
                 if entry.get(v) is not None and costs.get((name, v)) is not None
                 and costs[(name, v)].size]
        if not drawn:
            _empty(ax, "no cost recorded")
            continue
        floor = 1e-6  # a free trial sits at the axis's left end
        lo = max(floor, min(float(c.min()) for _, c, _ in drawn))
        hi = max(lo * 1.01, max(float(c.max()) for _, c, _ in drawn))
        ax.set_xscale("log")
        ax.set_xlim(lo / 1.25, hi * 1.25)
        for v, c, d in drawn:
            label, colour = _VARIANT_STYLE[v]
            ax.step(np.quantile(np.maximum(c, floor), probs), probs, where="post",
                    color=colour, linewidth=1.5,
                    label=f"{label}: {_pct_ci(d)}, n={d['trials']:,}")
            p99 = d.get("cost_p99")
            if p99 is None:
                continue
            x = max(float(p99), floor)
            ax.axvline(x, color=colour, linestyle="--", linewidth=1)
            right = np.log(x / (lo / 1.25)) > np.log((hi * 1.25) / (lo / 1.25)) / 2
            ax.annotate(f"P99 ${x:,.3g}" if x < 100 else f"P99 ${x:,.0f}", (x, 0.62 if v == "on" else 0.45),
                        xycoords=("data", "axes fraction"), xytext=(-3 if right else 3, 0),
                        textcoords="offset points", color=colour, fontsize=7,
                        ha="right" if right else "left",
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none",
                              "alpha": 0.85})
        ax.set_ylim(0, 1.02)
        ax.grid(alpha=0.3, which="both")
        ax.xaxis.set_major_formatter(FuncFormatter(_dollars))
        ax.xaxis.set_minor_formatter(FuncFormatter(_some_dollars) if hi / lo < 30
                                     else NullFormatter())
        ax.tick_params(axis="x", which="both", labelsize=7)
        ax.set_xlabel("cost per task (USD, log scale)", fontsize=8)
        ax.set_ylabel("share of tasks costing at most x", fontsize=8)
        ax.legend(loc="upper left", bbox_to_anchor=(0.0, -0.2), fontsize=7, frameon=False,
                  title="goal completion [95% Wilson]", title_fontsize=7,
                  alignment="left")
    return _png(fig)
