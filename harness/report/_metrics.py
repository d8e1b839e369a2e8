"""Per-group statistics of a run's trials, with pandas: the numbers ``summary.json`` holds.

A group is every trial sharing some of suite, scenario, model and fault profile; the
others are pooled (``None`` in the group's ``by``). Groupings are the overall one, by
suite, by scenario (which names its suite), each crossed with model, fault profile and
both. Everything is computed from sorted values, so the order of the lines in
``trials.jsonl`` changes nothing.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Sequence
from itertools import product
from typing import Any

import numpy as np
import pandas as pd

from harness.metrics import (
    DEFAULT_RESAMPLES,
    bootstrap_mean,
    bootstrap_percentile,
    percentile_interval,
    rng_for,
    wilson,
)
from harness.report._load import OUTCOMES

DIMS = ("suite", "scenario", "model", "fault_profile")
_PLACES: tuple[tuple[str, ...], ...] = ((), ("suite",), ("suite", "scenario"))
_AXES: tuple[tuple[str, ...], ...] = ((), ("model",), ("fault_profile",),
                                      ("model", "fault_profile"))
GROUPINGS: tuple[tuple[str, ...], ...] = tuple(p + a for p, a in product(_PLACES, _AXES))
LEAF = ("suite", "scenario", "model", "fault_profile")

#: pass^k is listed for k = 1..n up to this k (and for k = n beyond it), so a group of
#: thousands of trials per task keeps a summary of bounded size.
PASS_K_LISTED = 20
TOP_CHECKS = 5
COUNT_COLUMNS = ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "duration_s")
_QS = (50.0, 95.0, 99.0)
_FORBIDDEN = "forbidden "
INJECTION = "injection"


def annotate(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with the per-trial flags the groups count: escalated, retried, attacked
    (an injected instruction reached the agent), attack succeeded (a forbidden action ran
    anyway) and the names of the failed goal checks."""
    df = trials.copy()
    df["escalated"] = (df["escalations"] > 0).astype("boolean")
    df["retried"] = (df["retries"] > 0).astype("boolean")
    attacked: list[bool] = []
    for faults in df["faults"]:
        attacked.append(isinstance(faults, list)
                        and any(f.get("kind") == INJECTION for f in faults))
    failed: list[list[str]] = []
    for met, checks in zip(df["goal_met"], df["checks"], strict=True):
        if met or not isinstance(checks, list):
            failed.append([])
        else:
            failed.append([str(c.get("check")) for c in checks if not c.get("ok")])
    df["attacked"] = attacked
    df["failed_checks"] = failed
    df["attack_success"] = [a and any(c.startswith(_FORBIDDEN) for c in f)
                            for a, f in zip(attacked, failed, strict=True)]
    if "attack_approved" not in df.columns:
        df["attack_approved"] = pd.Series([None] * len(df), dtype="object")
    return df


def _num(x: Any) -> float | None:
    if x is None or x is pd.NA:
        return None
    f = float(x)
    return None if math.isnan(f) else f


def _group_key(by: dict[str, str | None]) -> str:
    return json.dumps(by, sort_keys=True)


def pass_hat_ks(cells: Sequence[tuple[int, int]]) -> dict[str, float]:
    """pass^k over tasks of ``(n trials, c successes)``: C(c,k)/C(n,k) averaged over the
    tasks with at least k trials, for k = 1..max n (bounded, see ``PASS_K_LISTED``)."""
    if not cells:
        return {}
    n = np.array([a for a, _ in cells], dtype=np.float64)
    c = np.array([b for _, b in cells], dtype=np.float64)
    top = int(n.max())
    ks = list(range(1, min(top, PASS_K_LISTED) + 1))
    if top > PASS_K_LISTED:
        ks.append(top)
    out: dict[str, float] = {}
    ratio = np.ones_like(n)
    done = 0
    for k in ks:
        for j in range(done, k):  # C(c,k)/C(n,k) = prod_{j<k} (c-j)/(n-j)
            with np.errstate(divide="ignore", invalid="ignore"):
                ratio = ratio * np.where(n - j > 0, np.clip(c - j, 0, None) / (n - j), 0.0)
        done = k
        have = n >= k
        out[str(k)] = float(ratio[have].mean())
    return out


def _dist(values: pd.Series[Any]) -> dict[str, float] | None:
    v = pd.to_numeric(values, errors="coerce").dropna().to_numpy(dtype=np.float64)
    if len(v) == 0:
        return None
    p50, p95, p99 = np.percentile(v, _QS)
    return {"mean": float(v.mean()), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "max": float(v.max())}


def _cost(values: pd.Series[Any], seed: int, key: str, resamples: int
          ) -> dict[str, Any] | None:
    v = np.sort(values.dropna().to_numpy(dtype=np.float64))
    if len(v) == 0:
        return None
    p50, p95, p99 = np.percentile(v, _QS)
    rng = rng_for(seed, key)
    mean_ci = percentile_interval(bootstrap_mean(v, rng, resamples))
    p99_ci = percentile_interval(bootstrap_percentile(v, 99.0, rng, resamples))
    return {"total": float(v.sum()), "mean": float(v.mean()), "mean_ci": list(mean_ci),
            "p50": float(p50), "p95": float(p95), "p99": float(p99), "p99_ci": list(p99_ci),
            "max": float(v.max())}


def _rate(flags: pd.Series[Any]) -> float | None:
    known = flags.dropna()
    return float(known.astype(bool).mean()) if len(known) else None


def _attack(g: pd.DataFrame) -> dict[str, Any] | None:
    hit = g[g["attacked"]]
    if hit.empty:
        return None
    n = len(hit)
    wins = hit[hit["attack_success"]]
    approved = wins["attack_approved"]
    known = approved.notna().all()
    lo, hi = wilson(len(wins), n)
    return {
        "trials": n, "successes": len(wins), "rate": len(wins) / n, "rate_ci": [lo, hi],
        "with_approval": int((approved == True).sum()) if known else None,  # noqa: E712
        "without_approval": int((approved == False).sum()) if known else None,  # noqa: E712
        "completion_rate": float(hit["goal_met"].mean()),
    }


def _group(g: pd.DataFrame, by: dict[str, str | None], seed: int, resamples: int
           ) -> dict[str, Any]:
    n = len(g)
    met = int(g["goal_met"].sum())
    lo, hi = wilson(met, n)
    cells = g.groupby(["scenario", "model", "fault_profile"], dropna=False, sort=False)[
        "goal_met"].agg(["size", "sum"])
    counts = Counter(g["outcome"])
    limits = Counter(str(x) for x in g.loc[g["outcome"] == "budget_exhausted",
                                           "exhausted_limit"].dropna())
    checks = Counter(c for cs in g["failed_checks"] for c in cs)
    top = sorted(checks.items(), key=lambda kv: (-kv[1], kv[0]))[:TOP_CHECKS]
    out: dict[str, Any] = {
        "by": by, "trials": n, "goal_met": met, "goal_completion_rate": met / n,
        "goal_completion_ci": [lo, hi],
        "pass_hat_k": pass_hat_ks([(int(s), int(c)) for s, c in
                                   zip(cells["size"], cells["sum"], strict=True)]),
        "cost_usd": _cost(g["cost_usd"], seed, _group_key(by), resamples),
    }
    for col in COUNT_COLUMNS:
        out[col] = _dist(g[col])
    for col in ("llm_calls", "tool_calls", "tokens_in", "tokens_out"):
        out[f"{col}_mean"] = out[col]["mean"] if out[col] else None
    out["outcomes"] = {k: int(counts.get(k, 0)) for k in OUTCOMES}
    out["budget_exhausted_by"] = dict(sorted(limits.items()))
    out["escalation_rate"] = _rate(g["escalated"])
    out["retry_rate"] = _rate(g["retried"])
    out["top_failed_checks"] = [{"check": c, "count": k} for c, k in top]
    out["completion_change_vs_none"] = None
    out["attack"] = _attack(g)
    return out


def group_metrics(trials: pd.DataFrame, *, seed: int = 0,
                  resamples: int = DEFAULT_RESAMPLES) -> list[dict[str, Any]]:
    """Every group's statistics, overall group first, then by grouping and key.

    A dimension the source never recorded (all NA) is left out of every grouping, and a
    grouping that then repeats an earlier one is skipped."""
    df = annotate(trials) if "attacked" not in trials.columns else trials
    groups: list[dict[str, Any]] = []
    if df.empty:
        return groups
    present = {d for d in DIMS if bool(df[d].notna().any())}
    seen: set[tuple[str, ...]] = set()
    for grouping in GROUPINGS:
        dims = tuple(d for d in grouping if d in present)
        if dims in seen:
            continue
        seen.add(dims)
        if not dims:
            groups.append(_group(df, dict.fromkeys(DIMS), seed, resamples))
            continue
        for key, g in df.groupby(list(dims), dropna=False, sort=True):
            values = key if isinstance(key, tuple) else (key,)
            by: dict[str, str | None] = dict.fromkeys(DIMS)
            for d, v in zip(dims, values, strict=True):
                by[d] = None if v is None or (isinstance(v, float) and math.isnan(v)) \
                    else str(v)
            groups.append(_group(g, by, seed, resamples))
    _completion_change(groups)
    return groups


def _completion_change(groups: list[dict[str, Any]]) -> None:
    """Each group under a fault profile against the same group under ``none``."""
    rate = {_group_key(g["by"]): g["goal_completion_rate"] for g in groups}
    for g in groups:
        profile = g["by"]["fault_profile"]
        if profile is None or profile == "none":
            continue
        base = rate.get(_group_key({**g["by"], "fault_profile": "none"}))
        if base is not None:
            g["completion_change_vs_none"] = g["goal_completion_rate"] - base
