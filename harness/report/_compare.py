"""Comparing models on the same trials, and runs against each other.

The runner gives a scenario's trial the same seed whatever the model or fault profile,
so two models' trials pair up on (suite, scenario, fault profile, trial): a paired test
sees the difference the model makes rather than the luck of the draw. Completion is
compared with an exact McNemar test (only pairs where one model met the goal and the
other did not carry information), cost with a bootstrap of the per-pair differences.
"""

from __future__ import annotations

import math
from itertools import combinations, pairwise
from typing import Any

import numpy as np
import pandas as pd

from harness.metrics import (
    DEFAULT_RESAMPLES,
    bootstrap_mean,
    mcnemar_exact,
    percentile_interval,
    rng_for,
)

PAIR_KEY = ["suite", "scenario", "fault_profile", "trial"]
SIGNIFICANT = 0.05


def _key_cols(a: pd.DataFrame) -> list[str]:
    """Pair on the key columns the source recorded."""
    return [c for c in PAIR_KEY if bool(a[c].notna().any())]


def paired(a: pd.DataFrame, b: pd.DataFrame, *, seed: int, resamples: int, key: str
           ) -> dict[str, Any]:
    """Goal completion and cost of ``b`` against ``a`` over the trials both ran."""
    cols = _key_cols(a) if not a.empty else PAIR_KEY
    left = a.drop_duplicates(cols)[[*cols, "goal_met", "cost_usd"]]
    right = b.drop_duplicates(cols)[[*cols, "goal_met", "cost_usd"]]
    m = left.merge(right, on=cols, suffixes=("_a", "_b"), how="inner")
    n = len(m)
    ga = m["goal_met_a"].to_numpy(dtype=bool)
    gb = m["goal_met_b"].to_numpy(dtype=bool)
    a_only = int((ga & ~gb).sum())
    b_only = int((gb & ~ga).sum())
    diffs = (m["cost_usd_b"] - m["cost_usd_a"]).dropna().to_numpy(dtype=np.float64)
    diffs = np.sort(diffs)
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
    out: list[dict[str, Any]] = []
    for ma, mb in combinations(models, 2):
        res = paired(df[df["model"] == ma], df[df["model"] == mb], seed=seed,
                     resamples=resamples, key=f"models:{ma}:{mb}")
        out.append({"model_a": ma, "model_b": mb, **res})
    return out


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


def compare_runs(runs: list[tuple[str, pd.DataFrame]], *, seed: int = 0,
                 resamples: int = DEFAULT_RESAMPLES) -> dict[str, Any]:
    """Each run against the one before it: per model overall, and per scenario x model x
    fault profile, naming the cells whose completion fell (``significant`` when the exact
    McNemar p-value is under 0.05)."""
    steps: list[dict[str, Any]] = []
    for (name_a, a), (name_b, b) in pairwise(runs):
        models = []
        for model in sorted(set(a["model"].dropna()) & set(b["model"].dropna())):
            res = paired(a[a["model"] == model], b[b["model"] == model], seed=seed,
                         resamples=resamples, key=f"runs:{name_a}:{name_b}:{model}")
            models.append({"model": str(model), **res})
        cells = []
        cell_cols = ["scenario", "model", "fault_profile"]
        b_groups = {k: g for k, g in b.groupby(cell_cols, dropna=False, sort=True)}
        for k, ga in a.groupby(cell_cols, dropna=False, sort=True):
            gb = b_groups.get(k)
            if gb is None:
                continue
            res = paired(ga, gb, seed=seed, resamples=resamples,
                         key=f"cells:{name_a}:{name_b}:{k}")
            diff = res["completion_diff"]
            regressed = diff is not None and diff < 0
            cells.append({"scenario": str(k[0]), "model": str(k[1]),
                          "fault_profile": _label(k[2]), **res,
                          "regressed": regressed,
                          "significant": regressed and res["mcnemar_p"] < SIGNIFICANT})
        steps.append({"run_a": name_a, "run_b": name_b, "models": models, "cells": cells,
                      "regressed": sorted({c["scenario"] for c in cells if c["regressed"]})})
    return {"schema": "harness.compare", "schema_version": 1, "bootstrap_seed": seed,
            "bootstrap_resamples": resamples, "comparisons": steps}
