"""The statistics the verdicts rest on, checked against published and hand-computed values."""

from __future__ import annotations

import csv
import math
from collections import defaultdict
from pathlib import Path

import pytest

from harness.metrics import pass_hat_k, percentile, wilson

# tau-bench's recorded rewards for gpt-4o on the airline domain (MIT licence, from the
# public sierra-research/tau-bench repository): 50 tasks x 4 trials.
TAU = Path(__file__).parent / "data" / "taubench_gpt4o_airline_rewards.csv"


def test_pass_hat_k_reproduces_tau_bench_published_numbers() -> None:
    per_task: dict[str, list[float]] = defaultdict(list)
    with TAU.open() as f:
        for row in csv.DictReader(f):
            per_task[row["task_id"]].append(float(row["reward"]))
    counts = [(len(r), sum(1 for x in r if x == 1.0)) for r in per_task.values()]
    assert len(counts) == 50 and all(n == 4 for n, _ in counts)
    published = {1: 0.420, 2: 0.273, 3: 0.220, 4: 0.200}
    for k, want in published.items():
        assert round(pass_hat_k(counts, k), 3) == want


def test_percentile_interpolates_like_numpy() -> None:
    xs = [1.0, 2.0, 3.0, 4.0]
    assert percentile(xs, 50) == 2.5
    assert percentile(xs, 0) == 1.0 and percentile(xs, 100) == 4.0
    assert percentile(xs, 99) == pytest.approx(3.97)
    assert math.isnan(percentile([], 50))


def test_wilson_interval_matches_hand_computation() -> None:
    lo, hi = wilson(8, 10)
    assert (round(lo, 4), round(hi, 4)) == (0.4902, 0.9433)
    assert wilson(0, 10)[0] == pytest.approx(0.0, abs=1e-12)
    assert wilson(10, 10)[1] == pytest.approx(1.0, abs=1e-12)
    assert round(wilson(0, 10)[1], 4) == 0.2775


def test_wilson_with_no_trials_says_nothing_is_known() -> None:
    # no trials: the rate could be anything, so the interval is all of [0, 1]
    assert wilson(0, 0) == (0.0, 1.0)
    assert wilson(0, 0, z=1.0) == (0.0, 1.0)


def test_wilson_is_symmetric_and_narrows_with_more_trials() -> None:
    lo, hi = wilson(3, 10)
    lo2, hi2 = wilson(7, 10)
    assert lo == pytest.approx(1 - hi2) and hi == pytest.approx(1 - lo2)
    assert wilson(30, 100)[1] - wilson(30, 100)[0] < hi - lo
    # a wider z gives a wider interval
    assert wilson(3, 10, z=3.0)[0] < lo and wilson(3, 10, z=3.0)[1] > hi
    assert wilson(1, 1) == (pytest.approx(0.2065, abs=1e-4), 1.0)


def test_percentile_of_one_value_and_of_unsorted_values() -> None:
    assert percentile([5.0], 99) == 5.0
    assert percentile([4.0, 1.0, 3.0, 2.0], 25) == pytest.approx(1.75)
    assert percentile([4.0, 1.0, 3.0, 2.0], 75) == pytest.approx(3.25)


def test_pass_hat_k_skips_tasks_with_fewer_trials_than_k() -> None:
    assert pass_hat_k([(4, 2), (1, 1)], 2) == pytest.approx(1 / 6)
    assert pass_hat_k([(2, 2)], 2) == 1.0
    assert math.isnan(pass_hat_k([(1, 1)], 2))
    assert math.isnan(pass_hat_k([], 1))


def test_wilson_stays_inside_zero_and_one_where_rounding_would_step_out() -> None:
    # unclamped, 16 of 16 gives an upper bound of 1.0000000000000002 and 0 of 21 a lower
    # bound of -1.4e-17: a rate's interval may touch its ends, never pass them
    assert wilson(16, 16)[1] == 1.0
    assert wilson(0, 21)[0] == 0.0
    for n in range(1, 200):
        lo, hi = wilson(n, n)
        assert lo > 0.0 and hi == pytest.approx(1.0, abs=1e-12) and hi <= 1.0
        lo, hi = wilson(0, n)
        assert lo == 0.0 and hi < 1.0  # 0 of 3 rounds to +1.6e-17 unless pinned
    # a very wide interval (z = 1e8) on 63 of 70 rounds its upper bound past 1 unclamped
    lo, hi = wilson(63, 70, z=1e8)
    assert hi == 1.0 and 0.0 <= lo < hi
