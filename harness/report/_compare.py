"""Comparing models on the same trials, and runs against each other.

The runner gives a scenario's trial the same seed whatever the model or fault profile,
so two models' trials pair up on (suite, scenario, fault profile, trial): a paired test
sees the difference the model makes rather than the luck of the draw. Completion is
compared with an exact McNemar test (only pairs where one model met the goal and the
other did not carry information), cost with a bootstrap of the per-pair differences.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from harness.metrics import (
    DEFAULT_RESAMPLES,
    bootstrap_mean,
    mcnemar_exact,
    percentile_interval,
    rng_for,
)
from harness.report._load import budgets_filled

PAIR_KEY = ["suite", "scenario", "fault_profile", "budgets", "trial"]
SIGNIFICANT = 0.05


IntArray = npt.NDArray[np.int64]


def pair_keys(*frames: pd.DataFrame) -> list[IntArray]:
    """One integer per row naming its (suite, scenario, fault profile, budgets, trial), the
    same integer for the same five in every frame given; only the columns recorded count
    (a run without the budgets axis ran with budgets: it pairs with another's ``on``)."""
    both = budgets_filled(pd.concat([f.reindex(columns=PAIR_KEY) for f in frames],
                                    ignore_index=True))
    key = np.zeros(len(both), dtype=np.int64)
    for c in PAIR_KEY:
        if not bool(both[c].notna().any()):
            continue
        codes, uniques = pd.factorize(both[c], use_na_sentinel=True)
        key = key * (len(uniques) + 1) + codes.astype(np.int64) + 1
    out, at = [], 0
    for f in frames:
        out.append(key[at:at + len(f)])
        at += len(f)
    return out


@dataclass(frozen=True)
class Side:
    """One side of a paired comparison: per trial its pairing key, goal and cost."""

    key: IntArray
    goal: npt.NDArray[np.bool_]
    cost: npt.NDArray[np.float64]

    @classmethod
    def of(cls, df: pd.DataFrame, key: IntArray, rows: IntArray | None = None) -> Side:
        goal = df["goal_met"].to_numpy(dtype=bool)
        cost = pd.to_numeric(df["cost_usd"]).to_numpy(dtype=np.float64, na_value=np.nan)
        if rows is None:
            return cls(key, goal, cost)
        return cls(key[rows], goal[rows], cost[rows])


def paired(a: Side, b: Side, *, seed: int, resamples: int, key: str) -> dict[str, Any]:
    """Goal completion and cost of ``b`` against ``a`` over the trials both ran (a trial
    listed twice counts once, its first line in the canonical order)."""
    ua, ia = np.unique(a.key, return_index=True)
    ub, ib = np.unique(b.key, return_index=True)
    _, xa, xb = np.intersect1d(ua, ub, assume_unique=True, return_indices=True)
    ra, rb = ia[xa], ib[xb]
    n = len(ra)
    ga, gb = a.goal[ra], b.goal[rb]
    a_only = int((ga & ~gb).sum())
    b_only = int((gb & ~ga).sum())
    diffs = b.cost[rb] - a.cost[ra]
    diffs = np.sort(diffs[~np.isnan(diffs)])
    if len(diffs):
        ci = percentile_interval(bootstrap_mean(diffs, rng_for(seed, key), resamples))
        mean: float | None = float(diffs.mean())
    else:
        ci, mean = (math.nan, math.nan), None
    return {
        "pairs": n,
        "completion_a": float(ga.mean()) if n else None,
        "completion_b": float(gb.mean()) if n else None,
        "completion_diff": float(gb.mean() - ga.mean()) if n else None,
        "a_only": a_only, "b_only": b_only,
        "mcnemar_p": mcnemar_exact(a_only, b_only),
        "cost_diff_mean": mean, "cost_diff_ci": list(ci),
    }


def model_pairs(df: pd.DataFrame, *, seed: int = 0, resamples: int = DEFAULT_RESAMPLES
                ) -> list[dict[str, Any]]:
    """Every pair of models of one run, on the trials both ran."""
    models = sorted(str(m) for m in df["model"].dropna().unique())
    if len(models) < 2:
        return []
    [key] = pair_keys(df)
    whole = Side.of(df, key)
    model = df["model"].to_numpy()
    sides = {m: Side(whole.key[r], whole.goal[r], whole.cost[r])
             for m in models for r in [np.flatnonzero(model == m)]}
    return [{"model_a": ma, "model_b": mb,
             **paired(sides[ma], sides[mb], seed=seed, resamples=resamples,
                      key=f"models:{ma}:{mb}")}
            for ma, mb in combinations(models, 2)]


def frontier(df: pd.DataFrame) -> list[dict[str, Any]]:
    """Cost versus completion per model; a model is dominated by any other that completes
    at least as often for at most the mean cost, and is better on one of the two."""
    pts: list[dict[str, Any]] = []
    for model, g in df.groupby("model", sort=True):
        cost = g["cost_usd"].dropna()
        pts.append({"model": str(model), "trials": len(g),
                    "completion_rate": float(g["goal_met"].mean()),
                    "mean_cost_usd": float(cost.mean()) if len(cost) else None})
    for p in pts:
        p["dominated_by"] = [
            q["model"] for q in pts if q is not p and p["mean_cost_usd"] is not None
            and q["mean_cost_usd"] is not None
            and q["completion_rate"] >= p["completion_rate"]
            and q["mean_cost_usd"] <= p["mean_cost_usd"]
            and (q["completion_rate"] > p["completion_rate"]
                 or q["mean_cost_usd"] < p["mean_cost_usd"])]
    return pts


def _label(v: Any) -> str | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)


def _same_budgets(a: pd.DataFrame, b: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Both runs' ``budgets`` said alike: when one run has the axis, the other's trials
    without it ran with their budgets (``on``), so their cells meet."""
    if not any("budgets" in f.columns and bool(f["budgets"].notna().any()) for f in (a, b)):
        return a, b

    def said(f: pd.DataFrame) -> pd.DataFrame:
        return f.assign(budgets=f["budgets"].fillna("on") if "budgets" in f.columns else "on")

    return said(a), said(b)


def compare_runs(runs: list[tuple[str, pd.DataFrame]], *, seed: int = 0,
                 resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """Each run against the one before it: per model overall, and per scenario x model x
    fault profile, naming the cells whose completion fell (``significant`` when the exact
    McNemar p-value is under 0.05)."""
    steps: list[dict[str, Any]] = []
    for (name_a, a), (name_b, b) in pairwise(runs):
        ka, kb = pair_keys(a, b)
        models = []
        for model in sorted(set(a["model"].dropna()) & set(b["model"].dropna())):
            ra = np.flatnonzero(a["model"].to_numpy() == model)
            rb = np.flatnonzero(b["model"].to_numpy() == model)
            res = paired(Side.of(a, ka, ra), Side.of(b, kb, rb), seed=seed,
                         resamples=resamples, key=f"runs:{name_a}:{name_b}:{model}")
            models.append({"model": str(model), **res})
        cells = []
        cell_cols = ["scenario", "model", "fault_profile", "budgets"]
        a, b = _same_budgets(a, b)
        b_rows: dict[Any, Any] = dict(b.reindex(columns=cell_cols).groupby(
            cell_cols, dropna=False, sort=True).indices)
        a_rows: dict[Any, Any] = dict(a.reindex(columns=cell_cols).groupby(
            cell_cols, dropna=False, sort=True).indices)
        for k, in_a in a_rows.items():
            in_b = b_rows.get(k)
            if in_b is None:
                continue
            res = paired(Side.of(a, ka, np.asarray(in_a, dtype=np.int64)),
                         Side.of(b, kb, np.asarray(in_b, dtype=np.int64)), seed=seed,
                         resamples=resamples, key=f"cells:{name_a}:{name_b}:{k}")
            diff = res["completion_diff"]
            regressed = diff is not None and diff < 0
            cells.append({"scenario": str(k[0]), "model": str(k[1]),
                          "fault_profile": _label(k[2]),
                          **({} if _label(k[3]) is None else {"budgets": _label(k[3])}), **res,
                          "regressed": regressed,
                          "significant": regressed and res["mcnemar_p"] < SIGNIFICANT})
        steps.append({"run_a": name_a, "run_b": name_b, "models": models, "cells": cells,
                      "regressed": sorted({c["scenario"] for c in cells if c["regressed"]})})
    return {"schema": "harness.compare", "schema_version": 1, "bootstrap_seed": seed,
            "bootstrap_resamples": resamples, "comparisons": steps,
            "frontiers": [{"run": name, "points": frontier(df)} for name, df in runs]}
