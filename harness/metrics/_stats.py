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
    # at 0 and n successes the bound is exactly 0 or 1; floating point alone misses by an ulp
    lo = 0.0 if successes == 0 else max(0.0, centre - half)
    hi = 1.0 if successes == n else min(1.0, centre + half)
    return (lo, hi)


def pass_hat_k(successes_per_task: Sequence[tuple[int, int]], k: int) -> float:
    """τ-bench's pass^k: for each task with n trials and c successes, C(c,k)/C(n,k), averaged."""
    scores = [comb(c, k) / comb(n, k) for n, c in successes_per_task if n >= k]
    return sum(scores) / len(scores) if scores else math.nan


def mcnemar_exact(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for ``b`` and ``c`` discordant pairs.

    Under the null each discordant pair is a fair coin, so the p-value is the binomial
    tail: ``min(1, 2 * P[X <= min(b, c)])`` with ``X ~ Bin(b + c, 1/2)``. Summed in log
    space so a run of a million pairs neither overflows nor rounds to zero early.
    """
    if b < 0 or c < 0:
        raise ValueError("counts of discordant pairs cannot be negative")
    n, k = b + c, min(b, c)
    if n == 0:
        return 1.0
    if n <= 1000:
        tail = sum(comb(n, i) for i in range(k + 1)) / 2**n
    else:
        log_half = n * math.log(0.5)
        lg = math.lgamma(n + 1)
        logs = [lg - math.lgamma(i + 1) - math.lgamma(n - i + 1) + log_half
                for i in range(k + 1)]
        top = max(logs)
        tail = math.exp(top) * sum(math.exp(v - top) for v in logs)
    return min(1.0, 2 * float(tail))
