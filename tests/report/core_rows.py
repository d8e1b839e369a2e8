"""Trial rows for the report-core tests: harness-shaped lines written as a trials.jsonl."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

FULL = {
    "run_id": "", "scenario": "s", "suite": "suite", "model": "m", "fault_profile": "none",
    "trial": 0, "seed": 0, "outcome": "done", "goal_met": True, "cost_usd": 0.01,
    "llm_calls": 5, "tool_calls": 3, "tokens_in": 1000, "tokens_out": 100,
    "duration_s": 10.0, "escalations": 0, "retries": 0, "faults": [], "error": None,
    "exhausted_limit": None, "answer": "", "checks": [], "log_id": "", "transport": "simulated",
}


def row(**kw: Any) -> dict[str, Any]:
    r = {**FULL, **kw}
    r["run_id"] = r["log_id"] = f"{r['scenario']}/{r['model']}/{r['fault_profile']}/{r['trial']}"
    return r


def write_rows(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def every_outcome() -> list[dict[str, Any]]:
    """Two models x two fault profiles, every outcome kind, a failed check, an attack."""
    rows = []
    outcomes = ["done", "failed", "budget_exhausted", "escalated", "crashed", "done"]
    for model in ("a", "b"):
        for profile in ("none", "hostile-tools"):
            for t, outcome in enumerate(outcomes):
                met = outcome == "done" and (model == "b" or t == 0)
                faults = ([{"source": "tool", "call": 1, "tool": "x", "kind": "injection",
                            "trigger": "rate"}] if profile == "hostile-tools" else [])
                checks = [{"check": "world orders.A100.status", "ok": met, "detail": ""},
                          {"check": "forbidden refund_order(order_id='A101')",
                           "ok": met or t != 1, "detail": ""}]
                rows.append(row(model=model, fault_profile=profile, trial=t, seed=100 + t,
                                outcome=outcome, goal_met=met, checks=checks, faults=faults,
                                cost_usd=0.01 * (t + 1) + (0.005 if model == "b" else 0),
                                escalations=1 if t in (3, 4) else 0, retries=t % 2,
                                exhausted_limit="llm_calls" if outcome == "budget_exhausted"
                                else None,
                                error="boom" if outcome == "crashed" else None))
    return rows
