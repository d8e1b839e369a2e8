"""Every statistic of the report against an independent computation: scipy, numpy or a
hand-worked case."""

from __future__ import annotations

import hashlib
import math
from fractions import Fraction
from math import comb
from typing import Any

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
from harness.metrics._bootstrap import DIRECT_MEAN_MAX
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


# --- edges and exact values of the bootstrap and McNemar (each pins a line of the code) ---

R = 2000  # replicates for the small exact cases: enough for 0.05 on a frequency, and fast


def _twin(seed: int, key: str) -> np.random.Generator:
    """The generator ``rng_for`` must give, built here from its documented recipe."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "big")])


class _ExtremeBeta(np.random.Generator):
    """A generator whose Beta draws are all exactly ``value``: 0.0 and 1.0 are floats a
    real Beta sampler can return (an underflowing gamma ratio), however rarely."""

    def __init__(self, value: float) -> None:
        super().__init__(np.random.PCG64(0))
        self.value = value

    def beta(self, a: Any, b: Any, size: Any = None) -> Any:
        return np.full(size, self.value)


def _freq(reps: np.ndarray, value: float) -> float:
    return float(np.mean(reps == value))


def test_rng_for_is_the_seed_and_an_8_byte_big_endian_blake2b_of_the_key() -> None:
    """Reports name the seed; anyone can rebuild a group's stream from it and the key."""
    for seed, key in [(0, "g"), (7, "scenario=a|model=b"), (2**40, "")]:
        assert np.array_equal(rng_for(seed, key).random(8), _twin(seed, key).random(8))
    assert not np.array_equal(rng_for(0, "a").random(8), rng_for(0, "b").random(8))
    assert not np.array_equal(rng_for(0, "a").random(8), rng_for(1, "a").random(8))


@pytest.mark.parametrize("fn", [bootstrap_mean, lambda v, rng, r: bootstrap_percentile(v, 99, rng, r)])
def test_bootstrap_of_no_values_is_a_full_row_of_nan(fn: Any) -> None:
    reps = fn(np.array([], dtype=np.float64), rng_for(0, "e"), 17)
    assert reps.shape == (17,) and reps.dtype == np.float64 and bool(np.isnan(reps).all())
    assert all(math.isnan(v) for v in percentile_interval(reps))


def test_bootstrap_of_one_value_is_that_value_every_time() -> None:
    one = np.array([2.5])
    assert np.array_equal(bootstrap_mean(one, rng_for(0, "1"), 50), np.full(50, 2.5))
    for q in (0, 50, 99, 100):
        reps = bootstrap_percentile(one, q, rng_for(0, "1"), 50)
        assert np.array_equal(reps, np.full(50, 2.5))
    assert percentile_interval(np.full(50, 2.5)) == (2.5, 2.5)


def test_bootstrap_of_equal_values_has_no_spread() -> None:
    x = np.full(9, 4.0)
    assert np.array_equal(bootstrap_mean(x, rng_for(0, "="), 100), np.full(100, 4.0))
    assert np.array_equal(bootstrap_percentile(x, 37, rng_for(0, "="), 100), np.full(100, 4.0))


def test_mean_of_two_values_resamples_both_ends() -> None:
    """Resamples of [0, 1] have means 0, 1/2, 1 with chances 1/4, 1/2, 1/4."""
    reps = bootstrap_mean(np.array([0.0, 1.0]), rng_for(0, "two"), R)
    for value, chance in [(0.0, 0.25), (0.5, 0.5), (1.0, 0.25)]:
        assert _freq(reps, value) == pytest.approx(chance, abs=0.05)


def test_mean_is_resampled_directly_up_to_direct_mean_max_and_normal_above() -> None:
    """A direct resample of 0/1 values has a mean in steps of 1/n; the normal limit has not."""
    x = np.sort(np.random.default_rng(3).integers(0, 2, DIRECT_MEAN_MAX).astype(np.float64))
    scaled = bootstrap_mean(x, rng_for(0, "d"), 200) * DIRECT_MEAN_MAX
    assert np.allclose(scaled, np.round(scaled), atol=1e-6)
    y = np.sort(np.append(x, 1.0))
    scaled = bootstrap_mean(y, rng_for(0, "d"), 200) * len(y)
    assert not np.allclose(scaled, np.round(scaled), atol=1e-6)


def test_normal_limit_replicates_are_the_mean_plus_se_times_the_groups_normals() -> None:
    x = np.sort(np.random.default_rng(6).lognormal(size=DIRECT_MEAN_MAX + 100))
    reps = bootstrap_mean(x, rng_for(4, "n"), 300)
    se = float(x.std()) / math.sqrt(len(x))
    want = float(x.mean()) + se * _twin(4, "n").standard_normal(300)
    assert np.allclose(reps, want, rtol=1e-12, atol=0)


@pytest.mark.parametrize(("q", "chances"), [
    (0, {0.0: 0.75, 1.0: 0.25}),                # the minimum of a resample of [0, 1]
    (50, {0.0: 0.25, 0.5: 0.5, 1.0: 0.25}),     # its median, interpolated
    (100, {0.0: 0.25, 1.0: 0.75}),              # its maximum
])
def test_percentile_of_two_values_has_the_exact_resampling_distribution(
        q: float, chances: dict[float, float]) -> None:
    reps = bootstrap_percentile(np.array([0.0, 1.0]), q, rng_for(0, f"q{q}"), R)
    assert sum(_freq(reps, v) for v in chances) == 1.0
    for value, chance in chances.items():
        assert _freq(reps, value) == pytest.approx(chance, abs=0.05)


def test_percentile_on_an_order_statistic_is_one_beta_draw_per_replicate() -> None:
    """The median of 5 is the 3rd order statistic: x[ceil(5 U) - 1] for U ~ Beta(3, 3),
    one draw each, so whatever the group's generator gives next is unchanged."""
    x = np.array([1.0, 2.0, 4.0, 8.0, 16.0])
    rng, twin = rng_for(2, "m"), _twin(2, "m")
    reps = bootstrap_percentile(x, 50, rng, 300)
    want = x[np.ceil(5 * twin.beta(3, 3, size=300)).astype(np.int64) - 1]
    assert np.array_equal(reps, want)
    assert rng.random() == twin.random()


@pytest.mark.parametrize("q", [0, 30, 50, 99, 100])
def test_percentile_maps_beta_draws_of_exactly_0_and_1_to_the_ends(q: float) -> None:
    x = np.array([1.0, 2.0, 4.0, 8.0])
    assert np.array_equal(bootstrap_percentile(x, q, _ExtremeBeta(0.0), 5), np.full(5, 1.0))
    assert np.array_equal(bootstrap_percentile(x, q, _ExtremeBeta(1.0), 5), np.full(5, 8.0))


def test_percentile_interval_is_numpys_percentiles_at_the_two_tails() -> None:
    reps = np.arange(101, dtype=np.float64)  # the p-th percentile of 0..100 is p
    # (1 - 0.95) / 2 * 100 is 2.500000000000002 in floating point, hence approx
    assert percentile_interval(reps) == pytest.approx((2.5, 97.5), abs=1e-9)
    assert percentile_interval(reps, level=0.9) == pytest.approx((5.0, 95.0), abs=1e-9)
    assert percentile_interval(reps, level=0.0) == (50.0, 50.0)
    assert percentile_interval(np.array([3.0])) == (3.0, 3.0)
    assert all(math.isnan(v) for v in percentile_interval(np.full(4, math.nan)))


@pytest.mark.parametrize(("b", "c"), [(-1, 3), (3, -1), (-2, -2)])
def test_mcnemar_refuses_negative_counts(b: int, c: int) -> None:
    with pytest.raises(ValueError, match=r"^counts of discordant pairs cannot be negative$"):
        mcnemar_exact(b, c)


@pytest.mark.parametrize(("b", "c"), [(0, 1), (1, 0), (400, 600), (500, 500), (0, 1000)])
def test_mcnemar_up_to_1000_pairs_is_the_correctly_rounded_exact_tail(b: int, c: int) -> None:
    n, k = b + c, min(b, c)
    exact = min(Fraction(1), Fraction(2 * sum(comb(n, i) for i in range(k + 1)), 2**n))
    assert mcnemar_exact(b, c) == float(exact)
