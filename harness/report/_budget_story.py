"""The budget story: each suite with its budgets and without, side by side.

A run with ``--budgets on,off`` holds every trial twice, on the same seed: once with the
agent's limits, once with none. Per suite (and over the whole run) this puts the two
variants' completion (Wilson 95% interval), mean cost, P99 cost (seeded bootstrap 95%
intervals) and maximum cost together, with how many times the unbudgeted tail is the
budgeted one and the paired difference (the same trials with and without limits, so an
exact McNemar test on completion and a paired bootstrap on cost). The numbers are the
summary's own groups, so the table, the chart and ``summary.json`` cannot disagree.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd

from harness.metrics import DEFAULT_RESAMPLES
from harness.report._compare import Side, pair_keys, paired

VARIANTS = ("on", "off")


def _variant(g: dict[str, Any]) -> dict[str, Any]:
    cost = g.get("cost_usd") or {}
    return {
        "trials": g["trials"], "goal_met": g["goal_met"],
        "goal_completion_rate": g["goal_completion_rate"],
        "goal_completion_ci": g["goal_completion_ci"],
        "cost_mean": cost.get("mean"), "cost_mean_ci": cost.get("mean_ci"),
        "cost_p99": cost.get("p99"), "cost_p99_ci": cost.get("p99_ci"),
        "cost_max": cost.get("max"),
        "budget_exhausted": g["outcomes"]["budget_exhausted"],
    }


def _ratio(a: Any, b: Any) -> float | None:
    return float(b) / float(a) if a is not None and b is not None and a > 0 else None


def _only(by: dict[str, Any], *keep: str) -> bool:
    return {k for k, v in by.items() if v is not None} == set(keep)


def budget_story(groups: Sequence[dict[str, Any]], trials: pd.DataFrame, *, seed: int = 0,
                 resamples: int = DEFAULT_RESAMPLES) -> list[dict[str, Any]]:
    """One entry per suite, then the whole run (``suite`` None); empty unless the run holds
    trials with budgets and without."""
    if "budgets" not in trials.columns or set(trials["budgets"].dropna()) != set(VARIANTS):
        return []
    by_place: dict[str | None, dict[str, dict[str, Any]]] = {}
    for g in groups:
        by = g["by"]
        if by.get("budgets") is None:
            continue
        if _only(by, "suite", "budgets") or _only(by, "budgets"):
            by_place.setdefault(by["suite"], {})[by["budgets"]] = g
    suite = trials["suite"].to_numpy(dtype=object)
    budgets = trials["budgets"].to_numpy(dtype=object)
    model = trials["model"].to_numpy(dtype=object)
    # a pair is the same suite, scenario, fault profile and trial on the same model
    _, mcodes = np.unique(model.astype(str), return_inverse=True)
    off_key = pair_keys(trials.assign(budgets="on"))[0] * (int(mcodes.max()) + 1) + mcodes
    whole = Side.of(trials, off_key)
    story: list[dict[str, Any]] = []
    places = sorted(p for p in by_place if p is not None) + (
        [None] if None in by_place else [])
    for place in places:
        sides = by_place[place]
        on, off = sides.get("on"), sides.get("off")
        entry: dict[str, Any] = {
            "suite": place,
            "on": _variant(on) if on else None, "off": _variant(off) if off else None}
        entry["p99_ratio"] = _ratio(entry["on"] and entry["on"]["cost_p99"],
                                    entry["off"] and entry["off"]["cost_p99"])
        entry["max_ratio"] = _ratio(entry["on"] and entry["on"]["cost_max"],
                                    entry["off"] and entry["off"]["cost_max"])
        here = np.ones(len(trials), dtype=bool) if place is None else suite == place
        rows_on = np.flatnonzero(here & (budgets == "on"))
        rows_off = np.flatnonzero(here & (budgets == "off"))
        entry["paired"] = paired(
            Side(whole.key[rows_on], whole.goal[rows_on], whole.cost[rows_on]),
            Side(whole.key[rows_off], whole.goal[rows_off], whole.cost[rows_off]),
            seed=seed, resamples=resamples, key=f"budgets:{place}")
        story.append(entry)
    return story
