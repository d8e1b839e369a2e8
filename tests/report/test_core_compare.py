"""Model comparison in a run and between runs: paired completion (exact McNemar), the
paired cost bootstrap, the cost-versus-completion frontier, regressed scenarios."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from core_rows import row, write_rows
from scipy import stats

from harness import load_trials
from harness.cli import main
from harness.report import frontier, model_pairs
from harness.report._load import frame


def _pairs_table() -> list[dict[str, object]]:
    """20 paired trials: both meet the goal 10 times, only a 1, only b 7, neither 2."""
    pattern = [(True, True)] * 10 + [(True, False)] + [(False, True)] * 7 + [(False, False)] * 2
    rows = []
    for t, (a, b) in enumerate(pattern):
        rows.append(row(model="a", trial=t, goal_met=a, cost_usd=0.010 + 0.001 * t))
        rows.append(row(model="b", trial=t, goal_met=b, cost_usd=0.004 + 0.001 * t))
    return rows


def test_models_pair_on_trials_with_an_exact_mcnemar_and_a_paired_cost_bootstrap(
        tmp_path: Path) -> None:
    df = load_trials(write_rows(tmp_path / "t.jsonl", _pairs_table()))
    [c] = model_pairs(df, seed=1)
    assert (c["model_a"], c["model_b"], c["pairs"]) == ("a", "b", 20)
    assert (c["a_only"], c["b_only"]) == (1, 7)
    assert c["mcnemar_p"] == pytest.approx(18 / 256)  # hand-worked: 2 * 9 / 2^8
    assert c["mcnemar_p"] == pytest.approx(stats.binomtest(1, 8).pvalue)
    assert c["completion_diff"] == pytest.approx(17 / 20 - 11 / 20)
    # every pair is 0.006 cheaper on b: the interval is that point
    assert c["cost_diff_mean"] == pytest.approx(-0.006)
    assert c["cost_diff_ci"] == pytest.approx([-0.006, -0.006])
    assert model_pairs(df, seed=1) == model_pairs(df, seed=1)


def test_paired_cost_interval_agrees_with_scipy_on_noisy_differences(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    rows = []
    for t in range(60):
        base = float(rng.lognormal()) / 100
        rows.append(row(model="a", trial=t, cost_usd=base))
        rows.append(row(model="b", trial=t, cost_usd=base * float(rng.uniform(0.5, 1.3))))
    df = load_trials(write_rows(tmp_path / "t.jsonl", rows))
    [c] = model_pairs(df, seed=0, resamples=20_000)
    diffs = np.array([rows[2 * t + 1]["cost_usd"] - rows[2 * t]["cost_usd"]  # type: ignore[operator]
                      for t in range(60)])
    ref = stats.bootstrap((diffs,), np.mean, n_resamples=20_000, method="percentile",
                          random_state=np.random.default_rng(1)).confidence_interval
    lo, hi = c["cost_diff_ci"]
    width = ref.high - ref.low
    assert abs(lo - ref.low) < 0.05 * width and abs(hi - ref.high) < 0.05 * width


def test_the_frontier_marks_dominated_models() -> None:
    cols: dict[str, list[object]] = {"scenario": [], "model": [], "trial": [], "outcome": [],
                                     "goal_met": [], "cost_usd": []}
    # cheap: 50% for $1; good: 90% for $2; bad: 40% for $3 (dominated by both); same: 50% for $1.5
    for model, rate, cost in (("cheap", 5, 1.0), ("good", 9, 2.0), ("bad", 4, 3.0),
                              ("same", 5, 1.5)):
        for t in range(10):
            for k, v in (("scenario", "s"), ("model", model), ("trial", t), ("outcome", "done"),
                         ("goal_met", t < rate), ("cost_usd", cost)):
                cols[k].append(v)
    pts = {p["model"]: p for p in frontier(frame(cols))}
    assert pts["cheap"]["dominated_by"] == [] and pts["good"]["dominated_by"] == []
    assert sorted(pts["bad"]["dominated_by"]) == ["cheap", "good", "same"]
    assert pts["same"]["dominated_by"] == ["cheap"]


def test_harness_compare_names_the_scenarios_that_regressed(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    week1, week2 = [], []
    for t in range(12):
        week1 += [row(scenario="steady", trial=t), row(scenario="slipping", trial=t)]
        week2 += [row(scenario="steady", trial=t),
                  row(scenario="slipping", trial=t, goal_met=t < 2, outcome="failed")]
    a = write_rows(tmp_path / "w1" / "trials.jsonl", week1)
    b = write_rows(tmp_path / "w2" / "trials.jsonl", week2)
    assert main(["compare", str(a.parent), str(b), "--out", str(tmp_path / "cmp")]) == 1
    out = capsys.readouterr().out
    assert "slipping on m" in out and "100% -> 17%" in out and "significant" in out
    assert "steady on" not in out
    assert "## Cost against completion in" in out
    result = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    [step] = result["comparisons"]
    assert step["regressed"] == ["slipping"]
    slip = next(c for c in step["cells"] if c["scenario"] == "slipping")
    assert (slip["a_only"], slip["b_only"]) == (10, 0)
    assert slip["mcnemar_p"] == pytest.approx(stats.binomtest(0, 10).pvalue)
    # no regression: exit 0
    assert main(["compare", str(a), str(a)]) == 0
    assert "No scenario regressed." in capsys.readouterr().out
    assert main(["compare", str(a)]) == 2
