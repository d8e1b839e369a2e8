"""The statistics a trial suite is judged by, in plain Python (no I/O, no pandas needed).

Percentiles interpolate linearly between order statistics (numpy's default), so a
P99 over 10 trials is honest about being mostly the maximum. Rates come with a
Wilson score interval, which stays inside [0, 1] and behaves at 0 and n successes.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from math import comb


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) by linear interpolation; NaN for no values."""
    if not values:
        return math.nan
    xs = sorted(values)
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def wilson(successes: int, n: int, z: float = 1.959963984540054) -> tuple[float, float]:
    """95% Wilson score interval for a rate."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def pass_hat_k(successes_per_task: Sequence[tuple[int, int]], k: int) -> float:
    """τ-bench's pass^k: for each task with n trials and c successes, C(c,k)/C(n,k), averaged."""
    scores = [comb(c, k) / comb(n, k) for n, c in successes_per_task if n >= k]
    return sum(scores) / len(scores) if scores else math.nan
