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
