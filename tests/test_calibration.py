"""The bundled suites reproduce the article's cost model, and budgets hold its tail.

A reduced run of ``harness run scenarios/ --budgets on,off`` (fewer trials than the
200 the README's figures use) must land every suite's average LLM calls, mean cost
and P99 cost in the article's ranges, each measured value's 95% interval taken into
account, and without budgets the P99 must be at least twice the budgeted one. The
numbers come from the simulated transport: they measure the agents' architecture
under modelled model behaviour, not a real model.
"""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path

import pytest

from harness import load_trials
from harness.runner import SuiteOptions, run_suite

ROOT = Path(__file__).resolve().parents[1]

#: The article's cost model: average LLM calls (a range), and the average and P99 cost
#: per task with the tolerance the calibration promises (35% and 40%).
ARTICLE = {
    "customer-support": ((4, 6), 0.02, 0.15),
    "code-review": ((8, 12), 0.08, 0.40),
    "research-summary": ((15, 25), 0.25, 1.20),
    "autonomous-dev": ((30, 60), 0.80, 4.00),
}
TRIALS = 40


def overlaps(ci: tuple[float, float], lo: float, hi: float) -> bool:
    return ci[0] <= hi and ci[1] >= lo


@pytest.fixture(scope="module")
def calibration(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict[str, dict], dict]:
    out = tmp_path_factory.mktemp("calibration") / "run"
    run_suite(SuiteOptions(paths=(str(ROOT / "scenarios"),), trials=TRIALS, out=out,
                           budgets=("on", "off"), workers=2, tracing=False, progress=False))
    story = {s["suite"]: s for s in json.loads((out / "summary.json").read_text())["budget_story"]
             if s["suite"] is not None}
    df = load_trials(out / "trials.jsonl")
    calls: dict[str, tuple[float, float]] = {}
    for suite, rows in df[df["budgets"] != "off"].groupby("suite"):
        xs = [float(x) for x in rows["llm_calls"]]
        half = 1.96 * statistics.stdev(xs) / math.sqrt(len(xs))
        calls[str(suite)] = (statistics.fmean(xs) - half, statistics.fmean(xs) + half)
    return story, calls


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(ARTICLE))
def test_a_suite_reproduces_the_articles_cost_model(
        calibration: tuple[dict[str, dict], dict], suite: str) -> None:
    story, calls = calibration
    (lo_calls, hi_calls), mean_usd, p99_usd = ARTICLE[suite]
    on = story[suite]["on"]
    assert on["trials"] >= 6 * TRIALS  # six scenarios at least
    assert overlaps(calls[suite], lo_calls, hi_calls), (calls[suite], (lo_calls, hi_calls))
    assert overlaps(on["cost_mean_ci"], 0.65 * mean_usd, 1.35 * mean_usd), on
    assert overlaps(on["cost_p99_ci"], 0.6 * p99_usd, 1.4 * p99_usd), on


@pytest.mark.slow
@pytest.mark.parametrize("suite", sorted(ARTICLE))
def test_without_budgets_a_suites_tail_spirals(
        calibration: tuple[dict[str, dict], dict], suite: str) -> None:
    on, off = calibration[0][suite]["on"], calibration[0][suite]["off"]
    assert off["cost_p99"] >= 2 * on["cost_p99"], (on, off)
    assert off["cost_max"] > on["cost_max"]
    assert off["budget_exhausted"] == 0 < on["budget_exhausted"]
