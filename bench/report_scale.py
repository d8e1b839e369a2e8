"""How long the report stage takes on a million trials, against bare pandas.

Builds N synthetic trial rows in memory, in the shape ``load_trials`` returns (20
scenarios in 4 suites, 3 models, 6 fault profiles, every outcome kind, a list of goal
checks and of faults per trial as the runner writes them), then times the report
stage on them: summary.json (every group's statistics with bootstrap intervals),
report.md, junit.xml, report.html and the four charts. Beside it, a bare pandas
baseline over the same rows: one groupby with the cost quantiles, mean and completion.

Reading a million lines of JSON is timed apart (``--jsonl``: ``write_report`` end to
end from a ``trials.jsonl``): it is the JSON parser's cost, the same for any reader.

    .venv/bin/python bench/report_scale.py [--rows N] [--keep DIR] [--jsonl]

Targets (a 2-core machine): under 15 s, peak memory under 2 GB, report.html under 20 MB.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

SUITES = 4
SCENARIOS_PER_SUITE = 5
MODELS = ("claude-haiku-4-5", "claude-opus-4-1", "claude-sonnet-4-6")
PROFILES = ("api-brownout", "chaos", "crashy", "flaky-tools", "hostile-tools", "none")
OUTCOMES = ("done", "failed", "budget_exhausted", "escalated", "crashed")
KEYS = ["suite", "scenario", "model", "fault_profile", "trial"]


def synthetic(rows: int, seed: int = 0) -> pd.DataFrame:
    """N trials in sorted order, with the columns and dtypes of ``load_trials``."""
    rng = np.random.default_rng(seed)
    scenarios = [(f"suite-{s}", f"scenario-{s}-{k}") for s in range(SUITES)
                 for k in range(SCENARIOS_PER_SUITE)]
    cells = [(su, sc, m, f) for su, sc in scenarios for m in MODELS for f in PROFILES]
    per_cell = -(-rows // len(cells))
    idx = np.arange(rows)
    cell, trial = idx // per_cell, idx % per_cell
    model_i = (cell // len(PROFILES)) % len(MODELS)
    profile_i = cell % len(PROFILES)
    hard = 0.30 - 0.04 * profile_i - 0.06 * model_i
    outcome_i = np.where(rng.random(rows) < hard, rng.integers(1, len(OUTCOMES), rows), 0)
    goal = (outcome_i == 0) & (rng.random(rows) > 0.05)
    llm = rng.integers(3, 40, rows)
    faulted = rng.random(rows) < 0.05 + 0.05 * profile_i
    outcome = np.array(OUTCOMES, dtype=object)[outcome_i]
    column = {k: np.array([c[i] for c in cells], dtype=object)[cell]
              for i, k in enumerate(("suite", "scenario", "model", "fault_profile"))}
    run_id = [f"{sc}/{m}/{f}/{t}" for sc, m, f, t in
              zip(column["scenario"], column["model"], column["fault_profile"], trial.tolist(),
                  strict=True)]
    # every trial its own lists and dicts, as json.loads gives them
    checks = [[{"check": "world order.refunded", "ok": g, "detail": f"is {g}, want True"}]
              for g in goal.tolist()]
    faults: list[list[dict[str, Any]]] = [
        [{"source": "tool", "call": 3, "tool": "lookup", "kind": "error", "trigger": "rate"}]
        if f else [] for f in faulted.tolist()]
    ints = {name: pd.array(values, dtype="Int64") for name, values in (
        ("trial", trial), ("seed", trial * 7919 + 1), ("llm_calls", llm),
        ("tool_calls", rng.integers(0, 25, rows)), ("tokens_in", llm * 900),
        ("tokens_out", llm * 120), ("escalations", rng.poisson(0.3, rows)),
        ("retries", rng.poisson(0.2 + 0.2 * profile_i, rows)))}
    df = pd.DataFrame({
        "run_id": run_id, "scenario": column["scenario"], "suite": column["suite"],
        "model": column["model"], "fault_profile": column["fault_profile"],
        "trial": ints["trial"], "seed": ints["seed"], "outcome": outcome, "goal_met": goal,
        "cost_usd": np.round(rng.lognormal(-4.2 + 0.9 * model_i, 0.5, rows), 8),
        "llm_calls": ints["llm_calls"], "tool_calls": ints["tool_calls"],
        "tokens_in": ints["tokens_in"], "tokens_out": ints["tokens_out"],
        "duration_s": np.round(rng.gamma(2.0, 20.0, rows), 4),
        "escalations": ints["escalations"], "retries": ints["retries"], "faults": faults,
        "error": np.where(outcome == "done", None, "gave up at step 2").astype(object),
        "exhausted_limit": np.where(outcome == "budget_exhausted", "llm_calls", None).astype(object),
        "answer": np.where(goal, "refund issued", "").astype(object), "checks": checks,
        "log_id": run_id, "transport": "simulated",
    })
    return df.sort_values(KEYS, kind="mergesort").reset_index(drop=True)


def report(df: pd.DataFrame, out: Path) -> tuple[dict[str, Any], list[Path]]:
    """What ``write_report`` does once the trials are read: the summary, then each file."""
    from harness._files import write_atomic
    from harness.report import build_summary
    from harness.report._html import write_visuals
    from harness.report._junit import render_junit
    from harness.report._markdown import render_markdown
    from harness.report._summary import dumps

    summary, _ = build_summary(df, source="synthetic")
    files = [write_atomic(out / "summary.json", dumps(summary)),
             write_atomic(out / "report.md", render_markdown(summary)),
             write_atomic(out / "junit.xml", render_junit(summary))]
    files += write_visuals(out, summary, df, None)
    return summary, files


def bare(df: pd.DataFrame) -> float:
    """The least a person would write: one groupby, the cost quantiles, mean, completion."""
    t0 = time.perf_counter()
    g = df.groupby(["suite", "scenario", "model", "fault_profile"], sort=True)
    table = g["cost_usd"].quantile([0.5, 0.95, 0.99]).unstack()
    table["mean"] = g["cost_usd"].mean()
    table["goal"] = g["goal_met"].mean()
    assert len(table) > 0
    return time.perf_counter() - t0


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB on Linux


def write_jsonl(df: pd.DataFrame, path: Path) -> None:
    cols = list(df.columns)
    with path.open("w", encoding="utf-8") as fh:
        for start in range(0, len(df), 50_000):
            part = df.iloc[start:start + 50_000]
            rows = zip(*(part[c].astype(object).where(part[c].notna(), None).tolist()
                         for c in cols), strict=True)
            fh.write("".join(json.dumps(dict(zip(cols, r, strict=True)), default=int) + "\n"
                             for r in rows))


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--keep", type=Path, help="write the report here and keep it")
    ap.add_argument("--jsonl", action="store_true",
                    help="also time write_report end to end from a trials.jsonl of the rows")
    args = ap.parse_args()

    t0 = time.perf_counter()
    df = synthetic(args.rows)
    print(f"built {len(df):,} synthetic trial rows in {time.perf_counter() - t0:.1f} s "
          f"({df.memory_usage(deep=True).sum() / 1e6:.0f} MB in memory)")
    with tempfile.TemporaryDirectory() as tmp:
        out = args.keep or Path(tmp) / "report"
        out.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        summary, files = report(df, out)
        harness_s = time.perf_counter() - t0
        peak = peak_mb()
        html = out / "report.html"
        print(f"harness report stage: {harness_s:.2f} s; peak memory {peak:.0f} MB "
              f"(rows included); report.html {html.stat().st_size / 1e6:.2f} MB; "
              f"{len(summary['groups'])} groups")
        for f in sorted(files):
            print(f"  {f.name:24} {f.stat().st_size / 1e3:10.1f} kB")
        bare_s = bare(df)
        print(f"bare pandas groupby + quantiles: {bare_s:.2f} s")
        if args.jsonl:
            from harness.report import write_report

            src = Path(tmp) / "run" / "trials.jsonl"
            src.parent.mkdir()
            write_jsonl(df, src)
            del df
            t0 = time.perf_counter()
            write_report(src, Path(tmp) / "from-jsonl")
            print(f"write_report from trials.jsonl ({src.stat().st_size / 1e6:.0f} MB): "
                  f"{time.perf_counter() - t0:.2f} s; peak memory {peak_mb():.0f} MB")
        print(f"report_scale: rows={args.rows} seconds={harness_s:.2f} "
              f"harness/bare={harness_s / bare_s:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
