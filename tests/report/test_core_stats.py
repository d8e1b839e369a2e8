"""Every statistic of the report against an independent computation: scipy, numpy or a
hand-worked case."""

from __future__ import annotations

import math
from math import comb

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from harness.metrics import (
    bootstrap_mean,
    bootstrap_percentile,
    mcnemar_exact,
    pass_hat_k,
    percentile_interval,
    rng_for,
    wilson,
)
from harness.report._load import frame
from harness.report._metrics import group_metrics, pass_hat_ks


@pytest.mark.parametrize(("k", "n"), [(0, 10), (10, 10), (0, 1), (1, 1), (3, 7), (50, 200)])
def test_wilson_agrees_with_scipy_including_0_and_n(k: int, n: int) -> None:
    ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
    lo, hi = wilson(k, n)
    assert lo == pytest.approx(ci.low, abs=1e-9) and hi == pytest.approx(ci.high, abs=1e-9)
    if k == 0:
        assert lo == 0.0
    if k == n:
        assert hi == 1.0


def test_mcnemar_on_a_hand_worked_2x2_table() -> None:
    # model A met / B missed: 1 pair; A missed / B met: 7 pairs; concordant pairs ignored.
    # P[X <= 1] for X ~ Bin(8, 1/2) = (1 + 8) / 256; two-sided: 18 / 256.
    assert mcnemar_exact(1, 7) == pytest.approx(18 / 256)
    assert mcnemar_exact(7, 1) == mcnemar_exact(1, 7)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(4, 4) == 1.0


@pytest.mark.parametrize(("b", "c"), [(0, 5), (3, 10), (12, 30), (600, 500), (2000, 2150)])
def test_mcnemar_is_scipys_exact_binomial_test_on_discordant_pairs(b: int, c: int) -> None:
    assert mcnemar_exact(b, c) == pytest.approx(stats.binomtest(b, b + c).pvalue, rel=1e-9)


def test_pass_hat_k_on_a_hand_built_table() -> None:
    # three tasks of 4 trials with 4, 2 and 0 successes
    cells = [(4, 4), (4, 2), (4, 0)]
    got = pass_hat_ks(cells)
    hand = {1: (1 + 0.5 + 0) / 3, 2: (1 + 1 / 6 + 0) / 3, 3: 1 / 3, 4: 1 / 3}
    assert list(got) == ["1", "2", "3", "4"]
    for k, want in hand.items():
        assert got[str(k)] == pytest.approx(want)
        assert got[str(k)] == pytest.approx(pass_hat_k(cells, k))


def test_pass_hat_k_skips_tasks_with_fewer_than_k_trials_and_lists_k_up_to_n() -> None:
    cells = [(2, 1), (5, 3)]
    got = pass_hat_ks(cells)
    assert got["2"] == pytest.approx((1 / comb(2, 2) * 0 + comb(3, 2) / comb(5, 2)) / 2)
    assert got["5"] == pytest.approx(0.0) and got["3"] == pytest.approx(comb(3, 3) / comb(5, 3))
    many = pass_hat_ks([(40, 30)])
    assert "20" in many and "40" in many and "21" not in many
    assert many["40"] == 0.0 and many["20"] == pytest.approx(comb(30, 20) / comb(40, 20))


def test_bootstrap_is_reproducible_for_a_seed_and_moves_with_it() -> None:
    x = np.sort(np.random.default_rng(7).lognormal(size=200))
    one = bootstrap_mean(x, rng_for(3, "g"))
    assert np.array_equal(one, bootstrap_mean(x, rng_for(3, "g")))
    assert not np.array_equal(one, bootstrap_mean(x, rng_for(4, "g")))
    p = bootstrap_percentile(x, 99, rng_for(3, "g"))
    assert np.array_equal(p, bootstrap_percentile(x, 99, rng_for(3, "g")))


def test_bootstrap_mean_interval_agrees_with_scipy() -> None:
    x = np.sort(np.random.default_rng(1).lognormal(size=150))
    ours = percentile_interval(bootstrap_mean(x, rng_for(0, "m"), 20_000))
    ref = stats.bootstrap((x,), np.mean, n_resamples=20_000, method="percentile",
                          random_state=np.random.default_rng(5)).confidence_interval
    assert ours[0] == pytest.approx(ref.low, rel=0.02)
    assert ours[1] == pytest.approx(ref.high, rel=0.02)


def test_above_direct_resampling_the_mean_interval_still_agrees_with_scipy() -> None:
    """Past 500 trials the replicates come from the bootstrap's normal limit; on skewed
    costs of 2,000 trials that limit must still give scipy's percentile interval."""
    x = np.sort(np.random.default_rng(8).lognormal(sigma=1.0, size=2000))
    ours = percentile_interval(bootstrap_mean(x, rng_for(0, "big"), 20_000))
    ref = stats.bootstrap((x,), np.mean, n_resamples=5_000, method="percentile",
                          random_state=np.random.default_rng(5)).confidence_interval
    width = ref.high - ref.low
    assert abs(ours[0] - ref.low) < 0.05 * width and abs(ours[1] - ref.high) < 0.05 * width


@pytest.mark.parametrize(("q", "n"), [(99, 300), (50, 101), (95, 40), (99, 7)])
def test_percentile_replicates_match_resampling_every_value(q: float, n: int) -> None:
    """Two Beta draws per replicate stand for a whole resample; the two distributions
    must agree (compared by their quantiles over many replicates)."""
    x = np.sort(np.random.default_rng(2).lognormal(size=n))
    ours = bootstrap_percentile(x, q, rng_for(0, "p"), 40_000)
    idx = np.random.default_rng(9).integers(0, n, size=(40_000, n))
    direct = np.percentile(x[idx], q, axis=1)
    spread = float(np.percentile(direct, 90) - np.percentile(direct, 10)) or 1.0
    for level in (5, 25, 50, 75, 95):
        assert abs(np.percentile(ours, level) - np.percentile(direct, level)) < 0.05 * spread


def test_group_numbers_agree_with_numpy() -> None:
    rng = np.random.default_rng(4)
    n = 57
    cols = {"scenario": ["s"] * n, "model": ["m"] * n, "trial": list(range(n)),
            "outcome": ["done"] * n, "goal_met": [bool(v) for v in rng.integers(0, 2, n)],
            "cost_usd": list(rng.lognormal(size=n) / 100), "tokens_in": list(
                int(v) for v in rng.integers(100, 5000, n)), "suite": ["x"] * n,
            "fault_profile": ["none"] * n}
    df = frame(cols)
    g = group_metrics(df)[0]
    cost = np.array(cols["cost_usd"])
    assert g["trials"] == n and g["goal_met"] == sum(cols["goal_met"])
    assert g["cost_usd"]["total"] == pytest.approx(cost.sum())
    assert g["cost_usd"]["mean"] == pytest.approx(cost.mean())
    for q in (50, 95, 99):
        assert g["cost_usd"][f"p{q}"] == pytest.approx(np.percentile(cost, q))
        assert g["tokens_in"][f"p{q}"] == pytest.approx(np.percentile(cols["tokens_in"], q))
    assert g["cost_usd"]["max"] == cost.max()
    lo, hi = g["cost_usd"]["p99_ci"]
    assert lo <= g["cost_usd"]["p99"] <= hi
    lo, hi = g["cost_usd"]["mean_ci"]
    assert lo < cost.mean() < hi
    assert g["llm_calls"] is None and g["llm_calls_mean"] is None  # absent, not zero
    assert math.isclose(g["goal_completion_rate"], np.mean(cols["goal_met"]))
    assert isinstance(df, pd.DataFrame)
