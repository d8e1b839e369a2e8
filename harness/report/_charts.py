"""The report's four charts, drawn with matplotlib's Agg backend into PNG bytes.

Every chart is drawn from arrays reduced first (a histogram's counts, a few hundred
quantiles per model, one point per model), so a million trials cost little more than a
hundred. The PNG carries no date and no software tag, so the same trials give the
same bytes. Each chart names the transport its numbers come from: a simulated run
measures the architecture under modelled model behaviour, not a model.
"""

from __future__ import annotations

import io
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

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
_DPI = 100

plt.rcParams.update({"font.size": 9, "svg.hashsalt": "harness", "figure.max_open_warning": 0})


def transports(trials: pd.DataFrame) -> list[str]:
    if "transport" not in trials.columns:
        return []
    return sorted(str(t) for t in trials["transport"].dropna().unique())


def transport_note(names: list[str]) -> str:
    """One sentence saying what the figures measure, from the trials' ``transport`` column."""
    if not names:
        return "transport not recorded: the source does not say whether a real model ran"
    return "; ".join(_TRANSPORT_NOTES.get(n, f"{n} transport") for n in names)


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    # no Software or date chunk: the same input gives the same bytes
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _figure(title: str, note: str) -> tuple[Figure, Any]:
    fig, ax = plt.subplots(figsize=(7.2, 4.2), layout="constrained")
    fig.suptitle(title, fontsize=11, x=0.01, ha="left")
    ax.set_title(note, fontsize=7, color="#555555", loc="left", wrap=True)
    return fig, ax


def _empty(ax: Any, why: str) -> None:
    ax.text(0.5, 0.5, why, ha="center", va="center", transform=ax.transAxes, color="#777777")
    ax.set_xticks([])
    ax.set_yticks([])


def _costs(trials: pd.DataFrame) -> np.ndarray[Any, np.dtype[np.float64]]:
    if "cost_usd" not in trials.columns:
        return np.empty(0)
    c = pd.to_numeric(trials["cost_usd"], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    kept: np.ndarray[Any, np.dtype[np.float64]] = c[~np.isnan(c)]
    return kept


def cost_histogram(trials: pd.DataFrame, overall: dict[str, Any] | None, note: str) -> bytes:
    fig, ax = _figure("Cost per trial", note)
    costs = _costs(trials)
    if costs.size == 0:
        _empty(ax, "no cost recorded")
        return _png(fig)
    counts, edges = np.histogram(costs, bins=min(60, max(5, int(np.sqrt(costs.size)))))
    ax.stairs(counts, edges, fill=True, color="#90caf9", edgecolor="#1565c0", linewidth=0.6)
    cost = (overall or {}).get("cost_usd") or {}
    p50 = cost.get("p50", float(np.quantile(costs, 0.5)))
    p99 = cost.get("p99", float(np.quantile(costs, 0.99)))
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


def cost_cdf(trials: pd.DataFrame, note: str) -> bytes:
    fig, ax = _figure("Cost per trial, cumulative, by model", note)
    if "cost_usd" not in trials.columns or _costs(trials).size == 0:
        _empty(ax, "no cost recorded")
        return _png(fig)
    frame = pd.DataFrame({"model": trials["model"].astype("string").fillna("(none)"),
                          "cost": pd.to_numeric(trials["cost_usd"], errors="coerce")}).dropna()
    probs = np.linspace(0.0, 1.0, _CDF_POINTS)
    for model, costs in sorted(frame.groupby("model", sort=True)["cost"], key=lambda kv: str(kv[0])):
        q = np.quantile(costs.to_numpy(dtype=np.float64), probs)
        ax.step(q, probs, where="post", label=f"{model} (n={len(costs)})", linewidth=1.3)
    ax.set_xlabel("cost per trial (USD)")
    ax.set_ylabel("share of trials costing at most x")
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right", fontsize=8)
    ax.grid(alpha=0.3)
    return _png(fig)


def frontier_points(trials: pd.DataFrame) -> list[dict[str, Any]]:
    """Mean cost and goal completion per model, and which are dominated: another model
    completes at least as often for no more money, and is better on one of the two."""
    if "cost_usd" not in trials.columns or trials.empty:
        return []
    frame = pd.DataFrame({"model": trials["model"].astype("string").fillna("(none)"),
                          "goal": trials["goal_met"].fillna(False).astype(bool),
                          "cost": pd.to_numeric(trials["cost_usd"], errors="coerce")})
    agg = frame.groupby("model", sort=True).agg(rate=("goal", "mean"), cost=("cost", "mean"),
                                                 n=("goal", "size"))
    pts: list[tuple[str, float, float, int]] = [
        (str(m), float(r.rate), float(r.cost), int(r.n))
        for m, r in agg.iterrows() if not np.isnan(r.cost)]
    return [{"model": m, "completion": rate, "cost": cost, "n": n,
             "dominated": any(r2 >= rate and c2 <= cost and (r2 > rate or c2 < cost)
                              for m2, r2, c2, _ in pts if m2 != m)}
            for m, rate, cost, n in pts]


def frontier(trials: pd.DataFrame, note: str) -> bytes:
    fig, ax = _figure("Cost versus goal completion, by model", note)
    pts = frontier_points(trials)
    if not pts:
        _empty(ax, "no cost recorded")
        return _png(fig)
    best = sorted((p for p in pts if not p["dominated"]), key=lambda p: p["cost"])
    if len(best) > 1:
        ax.plot([p["cost"] for p in best], [p["completion"] for p in best], color="#1565c0",
                linewidth=1, zorder=1, label="frontier")
    for p in pts:
        dom = p["dominated"]
        ax.scatter([p["cost"]], [p["completion"]], s=60, zorder=2,
                   marker="x" if dom else "o", color="#9e9e9e" if dom else "#1565c0")
        ax.annotate(f"{p['model']}{' (dominated)' if dom else ''}", (p["cost"], p["completion"]),
                    xytext=(6, 4), textcoords="offset points", fontsize=8,
                    color="#757575" if dom else "#0d47a1")
    ax.set_xlabel("mean cost per trial (USD)")
    ax.set_ylabel("goal completion rate")
    ax.set_ylim(-0.05, 1.1)
    ax.grid(alpha=0.3)
    return _png(fig)


def outcomes_by_fault(trials: pd.DataFrame, note: str) -> bytes:
    fig, ax = _figure("Outcomes by fault profile", note)
    if trials.empty:
        _empty(ax, "no trials")
        return _png(fig)
    frame = pd.DataFrame({"fault": trials["fault_profile"].astype("string").fillna("(none)")
                          if "fault_profile" in trials.columns else "(none)",
                          "outcome": trials["outcome"].astype("string").fillna("(none)")})
    table = pd.crosstab(frame["fault"], frame["outcome"]).sort_index()
    shares = table.div(table.sum(axis=1), axis=0)
    kinds = [o for o in OUTCOMES if o in shares.columns] + sorted(
        str(c) for c in shares.columns if c not in OUTCOMES)
    y = np.arange(len(shares.index))
    left = np.zeros(len(shares.index))
    for kind in kinds:
        vals = shares[kind].to_numpy(dtype=np.float64)
        ax.barh(y, vals, left=left, color=_OUTCOME_COLOURS.get(kind, "#bdbdbd"), label=kind,
                height=0.6)
        left += vals
    ax.set_yticks(y, [f"{f} (n={int(table.loc[f].sum())})" for f in shares.index])
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of trials")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.18), ncol=len(kinds), fontsize=8,
              frameon=False)
    return _png(fig)


def overall_group(summary: dict[str, Any]) -> dict[str, Any] | None:
    for g in summary.get("groups", []):
        if all(v is None for v in g.get("by", {}).values()):
            return dict(g)
    return None


def render_charts(trials: pd.DataFrame, summary: dict[str, Any]) -> dict[str, bytes]:
    """Each chart's PNG bytes, keyed by its file name."""
    note = transport_note(transports(trials))
    return {
        "cost-hist.png": cost_histogram(trials, overall_group(summary), note),
        "cost-cdf.png": cost_cdf(trials, note),
        "frontier.png": frontier(trials, note),
        "outcomes-by-fault.png": outcomes_by_fault(trials, note),
    }
