"""Per-group statistics of a run's trials, with pandas: the numbers ``summary.json`` holds.

A group is every trial sharing some of suite, scenario, model, fault profile and
budgets variant; the others are pooled (``None`` in the group's ``by``). Groupings are
the overall one, by suite, by scenario (which names its suite), each crossed with model,
fault profile and both, and each of those split by budgets variant when the run has
trials without budgets. Everything is computed from sorted values, so the order of the lines in
``trials.jsonl`` changes nothing.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from itertools import product
from typing import Any

import numpy as np
import numpy.typing as npt
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

DIMS = ("suite", "scenario", "model", "fault_profile", "budgets")
_PLACES: tuple[tuple[str, ...], ...] = ((), ("suite",), ("suite", "scenario"))
_AXES: tuple[tuple[str, ...], ...] = ((), ("model",), ("fault_profile",),
                                      ("model", "fault_profile"))
_VARIANTS: tuple[tuple[str, ...], ...] = ((), ("budgets",))
GROUPINGS: tuple[tuple[str, ...], ...] = tuple(
    p + a + b for p, a, b in product(_PLACES, _AXES, _VARIANTS))
LEAF = ("suite", "scenario", "model", "fault_profile", "budgets")

#: pass^k is listed for k = 1..n up to this k (and for k = n beyond it), so a group of
#: thousands of trials per task keeps a summary of bounded size.
PASS_K_LISTED = 20
TOP_CHECKS = 5
COUNT_COLUMNS = ("llm_calls", "tool_calls", "tokens_in", "tokens_out", "duration_s")
_QS = (50.0, 95.0, 99.0)
_FORBIDDEN = "forbidden "
INJECTION = "injection"

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]


def annotate(trials: pd.DataFrame) -> pd.DataFrame:
    """The trials with the per-trial flags the groups count: escalated, retried, attacked
    (an injected instruction reached the agent), attack succeeded (a forbidden action ran
    anyway) and the names of the failed goal checks (an empty tuple for most trials)."""
    df = trials.copy()
    n = len(df)
    df["escalated"] = (df["escalations"] > 0).astype("boolean")
    df["retried"] = (df["retries"] > 0).astype("boolean")
    attacked = np.zeros(n, dtype=bool)
    for i, faults in enumerate(df["faults"].to_numpy()):
        if faults and isinstance(faults, list):
            attacked[i] = any(f.get("kind") == INJECTION for f in faults)
    failed = np.empty(n, dtype=object)
    failed.fill(())
    success = np.zeros(n, dtype=bool)
    checks_col = df["checks"].to_numpy()
    for i in np.flatnonzero(~df["goal_met"].to_numpy(dtype=bool)).tolist():
        checks = checks_col[i]
        if checks and isinstance(checks, list):
            names = tuple(str(c.get("check")) for c in checks if not c.get("ok"))
            failed[i] = names
            success[i] = attacked[i] and any(c.startswith(_FORBIDDEN) for c in names)
    df["attacked"] = attacked
    df["failed_checks"] = failed
    df["attack_success"] = success
    if "attack_approved" not in df.columns:
        df["attack_approved"] = pd.Series([None] * n, dtype="object", index=df.index)
    return df


def _floats(s: pd.Series[Any]) -> FloatArray:
    """A column as float64 with NaN where absent (nullable integers included)."""
    out: FloatArray = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64,
                                                                   na_value=np.nan)
    return out


#: Dimensions whose groups go in a fixed order rather than by name (budgeted first).
_ORDERED: dict[str, tuple[str, ...]] = {"budgets": ("on", "off")}


def _codes(s: pd.Series[Any], order: tuple[str, ...] | None = None
           ) -> tuple[IntArray, list[str | None]]:
    """Sorted codes of a column, 0 standing for NA, and the label of each code."""
    if order is not None:
        cat = pd.Categorical(s, categories=list(order))
        return np.asarray(cat.codes, dtype=np.int64) + 1, [None, *order]
    codes, uniques = pd.factorize(s, sort=True, use_na_sentinel=True)
    return codes.astype(np.int64) + 1, [None, *(str(u) for u in uniques)]


@dataclass(frozen=True)
class _Rows:
    """The trials as numpy arrays, computed once; a group is an array of row indices."""

    goal: BoolArray
    cost: FloatArray
    nums: dict[str, FloatArray]
    outcome: IntArray
    limit: IntArray
    limit_names: list[str]
    escalated: FloatArray
    retried: FloatArray
    attacked: BoolArray
    success: BoolArray
    approved: IntArray
    """1 approved, 0 not, -1 the log could not tell."""
    cell: IntArray
    check_row: IntArray
    check_code: IntArray
    check_names: list[str]
    dims: dict[str, tuple[IntArray, list[str | None]]]

    @classmethod
    def of(cls, df: pd.DataFrame) -> _Rows:
        outcome = df["outcome"].map({k: i for i, k in enumerate(OUTCOMES)})
        limit_codes, limit_names = pd.factorize(df["exhausted_limit"], sort=True,
                                                use_na_sentinel=True)
        approved = np.full(len(df), -1, dtype=np.int64)
        known = df["attack_approved"].notna().to_numpy()
        approved[known] = df["attack_approved"][known].astype(bool).to_numpy(dtype=np.int64)
        rows: list[int] = []
        names: list[str] = []
        for i, checks in enumerate(df["failed_checks"].to_numpy()):
            if checks:
                rows += [i] * len(checks)
                names += checks
        check_codes, check_names = pd.factorize(pd.Series(names, dtype="object"), sort=True)
        absent: tuple[IntArray, list[str | None]] = (np.zeros(len(df), dtype=np.int64), [None])
        dims = {d: _codes(df[d], _ORDERED.get(d)) if d in df.columns else absent
                for d in DIMS}
        cell = np.zeros(len(df), dtype=np.int64)
        for d in ("scenario", "model", "fault_profile", "budgets"):
            codes, labels = dims[d]
            cell = cell * len(labels) + codes
        cell = np.unique(cell, return_inverse=True)[1].astype(np.int64)
        return cls(
            goal=df["goal_met"].to_numpy(dtype=bool), cost=_floats(df["cost_usd"]),
            nums={c: _floats(df[c]) for c in COUNT_COLUMNS},
            outcome=np.asarray(outcome.to_numpy(), dtype=np.int64),
            limit=limit_codes.astype(np.int64), limit_names=[str(x) for x in limit_names],
            escalated=_floats(df["escalated"]), retried=_floats(df["retried"]),
            attacked=df["attacked"].to_numpy(dtype=bool),
            success=df["attack_success"].to_numpy(dtype=bool), approved=approved,
            cell=cell, check_row=np.array(rows, dtype=np.int64),
            check_code=check_codes.astype(np.int64),
            check_names=[str(x) for x in check_names], dims=dims)


def _group_key(by: dict[str, str | None]) -> str:
    return json.dumps(by, sort_keys=True)


def pass_hat_ks(cells: Sequence[tuple[int, int]]) -> dict[str, float]:
    """pass^k over tasks of ``(n trials, c successes)``: C(c,k)/C(n,k) averaged over the
    tasks with at least k trials, for k = 1..max n (bounded, see ``PASS_K_LISTED``)."""
    if not cells:
        return {}
    return _pass_hat_ks(np.array([a for a, _ in cells], dtype=np.float64),
                        np.array([b for _, b in cells], dtype=np.float64))


def _pass_hat_ks(n: FloatArray, c: FloatArray) -> dict[str, float]:
    top = int(n.max())
    listed = min(top, PASS_K_LISTED)
    out: dict[str, float] = {}
    ratio = np.ones_like(n)
    for k in range(1, listed + 1):
        j = k - 1  # C(c,k)/C(n,k) = prod_{j<k} (c-j)/(n-j)
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = ratio * np.where(n - j > 0, np.maximum(c - j, 0) / (n - j), 0.0)
        out[str(k)] = float(ratio[n >= k].mean())
    if top > listed:  # k = n for the tasks with the most trials, in log space
        k = top
        terms = [0.0 if ci < k else math.exp(
            math.lgamma(ci + 1) - math.lgamma(ci - k + 1) - math.lgamma(ni + 1)
            + math.lgamma(ni - k + 1)) for ni, ci in zip(n.tolist(), c.tolist(), strict=True)
            if ni >= k]
        out[str(k)] = sum(terms) / len(terms)
    return out


def _dist(v: FloatArray) -> dict[str, float] | None:
    v = v[~np.isnan(v)]
    if len(v) == 0:
        return None
    p50, p95, p99 = np.percentile(v, _QS)
    return {"mean": float(v.mean()), "p50": float(p50), "p95": float(p95),
            "p99": float(p99), "max": float(v.max())}


def _cost(v: FloatArray, seed: int, key: str, resamples: int) -> dict[str, Any] | None:
    v = np.sort(v[~np.isnan(v)])
    if len(v) == 0:
        return None
    pos = (len(v) - 1) * np.array(_QS) / 100  # linear interpolation, as np.percentile
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, len(v) - 1)
    p50, p95, p99 = (v[lo] + (v[hi] - v[lo]) * (pos - lo)).tolist()
    rng = rng_for(seed, key)
    mean_ci = percentile_interval(bootstrap_mean(v, rng, resamples))
    p99_ci = percentile_interval(bootstrap_percentile(v, 99.0, rng, resamples))
    return {"total": float(v.sum()), "mean": float(v.mean()), "mean_ci": list(mean_ci),
            "p50": float(p50), "p95": float(p95), "p99": float(p99), "p99_ci": list(p99_ci),
            "max": float(v.max())}


def _rate(flags: FloatArray) -> float | None:
    known = flags[~np.isnan(flags)]
    return float(known.mean()) if len(known) else None


def _attack(r: _Rows, idx: IntArray) -> dict[str, Any] | None:
    hit = idx[r.attacked[idx]]
    if len(hit) == 0:
        return None
    n = len(hit)
    wins = hit[r.success[hit]]
    approved = r.approved[wins]
    known = bool((approved >= 0).all())
    lo, hi = wilson(len(wins), n)
    return {
        "trials": n, "successes": len(wins), "rate": len(wins) / n, "rate_ci": [lo, hi],
        "with_approval": int((approved == 1).sum()) if known else None,
        "without_approval": int((approved == 0).sum()) if known else None,
        "completion_rate": float(r.goal[hit].mean()),
    }


def _top_checks(r: _Rows, idx: IntArray, everyone: bool) -> list[dict[str, Any]]:
    if not r.check_names:
        return []
    if everyone:
        codes = r.check_code
    else:
        mark = np.zeros(len(r.goal), dtype=bool)
        mark[idx] = True
        codes = r.check_code[mark[r.check_row]]
    counts = np.bincount(codes, minlength=len(r.check_names))
    order = np.lexsort((np.arange(len(counts)), -counts))  # most first, then by name
    return [{"check": r.check_names[i], "count": int(counts[i])}
            for i in order[:TOP_CHECKS] if counts[i] > 0]


def _group(r: _Rows, idx: IntArray, by: dict[str, str | None], seed: int, resamples: int,
           everyone: bool = False) -> dict[str, Any]:
    n = len(idx)
    goal = r.goal[idx]
    met = int(goal.sum())
    lo, hi = wilson(met, n)
    cells = r.cell[idx]
    ncell = int(r.cell.max()) + 1
    if ncell <= 4 * n:  # counting beats sorting
        all_sizes = np.bincount(cells, minlength=ncell)
        have = all_sizes > 0
        sizes = all_sizes[have]
        sums = np.bincount(cells, weights=goal, minlength=ncell)[have].astype(np.float64)
    else:
        _, inverse, sizes = np.unique(cells, return_inverse=True, return_counts=True)
        sums = np.bincount(inverse, weights=goal, minlength=len(sizes)).astype(np.float64)
    counts = np.bincount(r.outcome[idx], minlength=len(OUTCOMES))
    limits = r.limit[idx]
    by_limit = np.bincount(limits[limits >= 0], minlength=len(r.limit_names))
    out: dict[str, Any] = {
        "by": by, "trials": n, "goal_met": met, "goal_completion_rate": met / n,
        "goal_completion_ci": [lo, hi],
        "pass_hat_k": _pass_hat_ks(sizes.astype(np.float64), sums),
        "cost_usd": _cost(r.cost[idx], seed, _group_key(by), resamples),
    }
    for col in COUNT_COLUMNS:
        out[col] = _dist(r.nums[col][idx])
    for col in ("llm_calls", "tool_calls", "tokens_in", "tokens_out"):
        out[f"{col}_mean"] = out[col]["mean"] if out[col] else None
    out["outcomes"] = {k: int(counts[i]) for i, k in enumerate(OUTCOMES)}
    out["budget_exhausted_by"] = {name: int(by_limit[i]) for i, name in
                                  enumerate(r.limit_names) if by_limit[i] > 0}
    out["escalation_rate"] = _rate(r.escalated[idx])
    out["retry_rate"] = _rate(r.retried[idx])
    out["top_failed_checks"] = _top_checks(r, idx, everyone)
    out["completion_change_vs_none"] = None
    out["attack"] = _attack(r, idx)
    return out


def _split(r: _Rows, dims: tuple[str, ...]) -> list[tuple[dict[str, str | None], IntArray]]:
    """The groups of one grouping, in the order of their labels, each with its rows."""
    key = np.zeros(len(r.goal), dtype=np.int64)
    for d in dims:
        codes, labels = r.dims[d]
        key = key * len(labels) + codes
    order = np.argsort(key, kind="stable")
    ks = key[order]
    cuts = np.flatnonzero(np.diff(ks)) + 1
    out = []
    for part in np.split(order, cuts):
        k = int(key[part[0]])
        by: dict[str, str | None] = dict.fromkeys(DIMS)
        for d in reversed(dims):
            labels = r.dims[d][1]
            k, code = divmod(k, len(labels))
            by[d] = labels[code]
        out.append((by, part))
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
    r = _Rows.of(df)
    present = {d for d in DIMS if d in df.columns and bool(df[d].notna().any())}
    seen: set[tuple[str, ...]] = set()
    for grouping in GROUPINGS:
        dims = tuple(d for d in grouping if d in present)
        if dims in seen:
            continue
        seen.add(dims)
        if not dims:
            everyone = np.arange(len(df), dtype=np.int64)
            groups.append(_group(r, everyone, dict.fromkeys(DIMS), seed, resamples, True))
            continue
        for by, idx in _split(r, dims):
            groups.append(_group(r, idx, by, seed, resamples))
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
