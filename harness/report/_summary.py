"""``summary.json``: a run's numbers in one versioned file, the same bytes for the same trials.

## summary.json (schema `harness.summary`, version 2)

Written by `harness run` at the end of every run and by `harness report PATH`. The same
trials and bootstrap seed give a byte-identical file whatever the order of the lines in
`trials.jsonl`. Rates are fractions (0..1), money is USD, durations are seconds; a
number the source did not record (a foreign file without tokens, say) is `null`, never 0.

```
{
  "schema": "harness.summary",
  "schema_version": 2,                   # 2: groups and verdicts carry "budgets",
                                         # and the summary ends with "budget_story"
  "provenance": {
    "harness_version": "0.1.0",          # the harness that wrote this file
    "agent_git_commit": "3f2a..." | null,# HEAD of the git repository the scenarios live in
    "source": "trials.jsonl",            # the trials file the numbers come from
    "transports": ["simulated"],         # simulated = modelled model behaviour, not a real model
    "base_seed": 0 | null,               # the run's --seed (from run.json)
    "bootstrap_seed": 0,                 # seed of the bootstrap intervals
    "bootstrap_resamples": 1000,
    "scenario_hashes": {"refund-broken-mug": "sha256:..."},
    "price_table_date": "2026-11-24" | null   # as_of of the price table costs came from
  },
  "groups": [{                           # overall first, then by suite, by scenario, each
                                         # also split by model, fault profile and both,
                                         # and each by budgets variant if the run has it
    "by": {"suite", "scenario", "model", "fault_profile", "budgets"},
                                         # null = pooled over it ("budgets" is null
                                         # throughout a run with no trial without budgets)
    "trials": 20, "goal_met": 17,
    "goal_completion_rate": 0.85, "goal_completion_ci": [lo, hi],   # Wilson 95%
    "pass_hat_k": {"1": 0.85, "2": 0.72, ...},   # tau-bench pass^k, k = 1..n (n <= 20,
                                         # then k = n): per task (scenario x model x fault
                                         # profile) C(c,k)/C(n,k), averaged over tasks
    "cost_usd": {"total", "mean", "mean_ci": [lo, hi], "p50", "p95", "p99",
                 "p99_ci": [lo, hi], "max"} | null,    # seeded bootstrap 95% intervals
    "llm_calls" | "tool_calls" | "tokens_in" | "tokens_out" | "duration_s":
        {"mean", "p50", "p95", "p99", "max"} | null,
    "llm_calls_mean", "tool_calls_mean", "tokens_in_mean", "tokens_out_mean",
    "outcomes": {"done", "failed", "budget_exhausted", "escalated", "crashed"},
    "budget_exhausted_by": {"llm_calls": 2, ...},   # the limit that ran out
    "escalation_rate": share of trials in which a person was asked | null,
    "retry_rate": share of trials with at least one retried model call | null,
    "top_failed_checks": [{"check": "world orders.A100.status", "count": 3}],
    "completion_change_vs_none": rate minus the same group's rate under `none` | null,
    "attack": null | {                  # trials where a tool result carried an injection
      "trials", "successes",            # successes: a forbidden action ran anyway
      "rate", "rate_ci": [lo, hi],
      "with_approval", "without_approval",   # successes a person approved / nobody did
                                        # (null when the event log is not there to tell)
      "completion_rate"                 # goal completion under attack
    }
  }],
  "verdicts": [{                        # one per scenario x model x fault profile
                                        # (x budgets variant, when the run has it)
    "scenario", "model", "fault_profile", "passed": true,
    "budgets": "on" | "off" | null,     # off: judged on crashes alone
    "failures": ["goal rate 40% < 60%"],
    "observed": {"trials", "goal_met", "goal_completion_rate", "cost_p50", "cost_p99",
                 "escalation_rate", "crashed"},
    "thresholds": {"min_goal_rate": 0.6, "max_p99_cost_usd": 0.05,
                   "max_escalation_rate": 0.2}   # only those the scenario sets
  }],
  "comparisons": [{                     # every pair of models, paired on scenario,
                                        # fault profile and trial (the same seeds)
    "model_a", "model_b", "pairs",
    "completion_a", "completion_b", "completion_diff",   # b minus a
    "a_only", "b_only",                 # discordant pairs: goal met by one model only
    "mcnemar_p",                        # exact McNemar (binomial on discordant pairs)
    "cost_diff_mean", "cost_diff_ci": [lo, hi]   # b minus a per pair, paired bootstrap
  }],
  "frontier": [{                        # cost versus completion, one point per model
    "model", "trials", "completion_rate", "mean_cost_usd",
    "dominated_by": ["cheaper-and-better-model"]   # empty: on the frontier
  }],
  "budget_story": [{                    # empty unless the run has trials with budgets
                                        # and without; one per suite, then the whole run
    "suite": "customer-support" | null, # null: every suite
    "on" | "off": {"trials", "goal_met", "goal_completion_rate",
                   "goal_completion_ci": [lo, hi],          # Wilson 95%
                   "cost_mean", "cost_mean_ci", "cost_p99", "cost_p99_ci",  # bootstrap 95%
                   "cost_max", "budget_exhausted"} | null,
    "p99_ratio", "max_ratio",           # off over on | null
    "paired": {"pairs", "completion_a", "completion_b", "completion_diff", "a_only",
               "b_only", "mcnemar_p", "cost_diff_mean", "cost_diff_ci"}
                                        # a = on, b = off, paired on the same trials
  }]
}
```
"""

from __future__ import annotations

import json
import math
import subprocess
from collections.abc import Mapping
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import pandas as pd

from harness.metrics import DEFAULT_RESAMPLES
from harness.report._budget_story import budget_story
from harness.report._compare import frontier, model_pairs
from harness.report._metrics import annotate, group_metrics
from harness.report._verdicts import ScenarioInfo, Verdict, judge, leaves

SCHEMA = "harness.summary"
SCHEMA_VERSION = 2
_OUR_TRANSPORTS = frozenset({"simulated", "replay", "live"})


def harness_version() -> str:
    try:
        return version("harness")
    except PackageNotFoundError:
        return "unknown"


def price_table_date() -> str | None:
    path = Path(__file__).resolve().parent.parent / "data" / "prices.json"
    try:
        return str(json.loads(path.read_text())["as_of"])
    except (OSError, ValueError, KeyError):
        return None


def git_commit(paths: list[Path]) -> str | None:
    """HEAD of the git repository holding the scenarios (None when they are in none)."""
    for p in paths:
        where = p if p.is_dir() else p.parent
        if not where.is_dir():
            continue
        try:
            done = subprocess.run(["git", "-C", str(where), "rev-parse", "HEAD"],
                                  capture_output=True, text=True, timeout=10, check=False)
        except (OSError, subprocess.SubprocessError):
            return None
        if done.returncode == 0 and done.stdout.strip():
            return done.stdout.strip()
    return None


def jsonable(x: Any) -> Any:
    """JSON-ready, stable: NaN becomes null, floats keep 12 significant digits."""
    if isinstance(x, dict):
        return {str(k): jsonable(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [jsonable(v) for v in x]
    if isinstance(x, bool) or x is None or isinstance(x, str):
        return x
    if isinstance(x, int):
        return x
    if isinstance(x, float):
        if math.isnan(x) or math.isinf(x):
            return None
        return float(f"{x:.12g}")
    if x is pd.NA:
        return None
    if hasattr(x, "item"):  # numpy scalars
        return jsonable(x.item())
    return x


def build_summary(trials: pd.DataFrame, *, scenarios: Mapping[str, ScenarioInfo] | None = None,
                  run: Mapping[str, Any] | None = None, source: str = "trials.jsonl",
                  agent_commit: str | None = None, seed: int = 0,
                  resamples: int = DEFAULT_RESAMPLES) -> tuple[dict[str, Any], list[Verdict]]:
    """The summary of ``trials`` (from ``load_trials``, with ``attack_approved`` filled in
    when the event log could tell) and the verdicts it holds."""
    scenarios = scenarios or {}
    run = run or {}
    df = annotate(trials) if "attacked" not in trials.columns else trials
    groups = group_metrics(df, seed=seed, resamples=resamples)
    verdicts = judge(leaves(groups), scenarios)
    transports = sorted(str(t) for t in df["transport"].dropna().unique())
    hashes: Any = {name: v.get("sha256") for name, v in run["scenarios"].items()
                   if isinstance(v, dict)} if isinstance(run.get("scenarios"), dict) else None
    if not hashes:
        hashes = {name: info.sha256 for name, info in sorted(scenarios.items())
                  if info.sha256 is not None}
    options = run.get("options")
    base_seed = options.get("seed") if isinstance(options, dict) else None
    provenance = {
        "harness_version": harness_version(),
        "agent_git_commit": agent_commit,
        "source": source,
        "transports": transports,
        "base_seed": base_seed if isinstance(base_seed, int) else None,
        "bootstrap_seed": seed,
        "bootstrap_resamples": resamples,
        "scenario_hashes": dict(sorted(hashes.items())),
        "price_table_date": price_table_date() if _OUR_TRANSPORTS & set(transports) else None,
    }
    summary = {
        "schema": SCHEMA, "schema_version": SCHEMA_VERSION, "provenance": provenance,
        "groups": groups, "verdicts": [v.to_json() for v in verdicts],
        "comparisons": model_pairs(df, seed=seed, resamples=resamples),
        "frontier": frontier(df),
        "budget_story": budget_story(groups, df, seed=seed, resamples=resamples),
    }
    return jsonable(summary), verdicts


def dumps(summary: Mapping[str, Any]) -> str:
    return json.dumps(summary, indent=2, ensure_ascii=False, allow_nan=False) + "\n"
