"""Seeded bootstrap replicates of a mean and a percentile, vectorised with numpy.

Both take the values *sorted*, so the result depends on the values and the seed alone,
never on the order trials were written in.

The mean resamples indices directly (``resamples`` x ``n`` draws) up to
``DIRECT_MEAN_MAX`` values; above that the bootstrap distribution of a mean is its
normal limit, centred on the mean with the plug-in standard error (the error of that
limit shrinks as 1/sqrt(n)), and replicates are drawn from it, so a group of a million
trials costs no more than one of a thousand, and a report of a million trials in a few
hundred groups stays within seconds.

A percentile's replicates are exact at any size without resampling every value: a
bootstrap sample is ``x[ceil(n U) - 1]`` for uniform ``U``, so its k-th order statistic
is ``x`` at the k-th uniform order statistic, which is Beta(k, n - k + 1), and the next
one is that plus a Beta(1, n - k) share of the rest of the interval. Two Beta draws per
replicate give the interpolated percentile of a full resample.
"""

from __future__ import annotations

import hashlib
import math

import numpy as np
import numpy.typing as npt

DIRECT_MEAN_MAX = 500
DEFAULT_RESAMPLES = 1000

FloatArray = npt.NDArray[np.float64]


def rng_for(seed: int, key: str) -> np.random.Generator:
    """A generator for one group: the bootstrap seed and a hash of the group's key."""
    digest = hashlib.blake2b(key.encode(), digest_size=8).digest()
    return np.random.default_rng([seed, int.from_bytes(digest, "big")])


def bootstrap_mean(sorted_values: FloatArray, rng: np.random.Generator,
                   resamples: int = DEFAULT_RESAMPLES) -> FloatArray:
    n = len(sorted_values)
    if n == 0:
        return np.full(resamples, math.nan)
    if n <= DIRECT_MEAN_MAX:
        idx = rng.integers(0, n, size=(resamples, n))
        out: FloatArray = sorted_values[idx].mean(axis=1)
        return out
    mean = float(sorted_values.mean())
    se = float(sorted_values.std()) / math.sqrt(n)
    normal: FloatArray = mean + se * rng.standard_normal(resamples)
    return normal


def bootstrap_percentile(sorted_values: FloatArray, q: float, rng: np.random.Generator,
                         resamples: int = DEFAULT_RESAMPLES) -> FloatArray:
    """Replicates of the ``q``-th percentile (linear interpolation, as ``np.percentile``)."""
    n = len(sorted_values)
    if n == 0:
        return np.full(resamples, math.nan)
    pos = (n - 1) * q / 100
    r = math.floor(pos)  # 0-based lower order statistic
    frac = pos - r
    u_lo = rng.beta(r + 1, n - r, size=resamples)
    lo_idx = np.clip(np.ceil(n * u_lo).astype(np.int64) - 1, 0, n - 1)
    lo = sorted_values[lo_idx]
    if frac == 0 or r + 1 >= n:
        return lo
    u_hi = u_lo + (1 - u_lo) * rng.beta(1, n - r - 1, size=resamples)
    hi_idx = np.clip(np.ceil(n * u_hi).astype(np.int64) - 1, 0, n - 1)
    out: FloatArray = lo + frac * (sorted_values[hi_idx] - lo)
    return out


def percentile_interval(replicates: FloatArray, level: float = 0.95) -> tuple[float, float]:
    """The percentile-method interval of bootstrap replicates."""
    if len(replicates) == 0 or bool(np.isnan(replicates).all()):
        return (math.nan, math.nan)
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(replicates, [tail, 100 - tail])
    return (float(lo), float(hi))
