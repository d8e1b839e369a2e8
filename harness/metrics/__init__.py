"""Statistics over trials: percentiles, Wilson intervals, pass^k, McNemar, the bootstrap."""

from harness.metrics._bootstrap import (
    DEFAULT_RESAMPLES,
    bootstrap_mean,
    bootstrap_percentile,
    percentile_interval,
    rng_for,
)
from harness.metrics._stats import mcnemar_exact, pass_hat_k, percentile, wilson

__all__ = [
    "DEFAULT_RESAMPLES",
    "bootstrap_mean",
    "bootstrap_percentile",
    "mcnemar_exact",
    "pass_hat_k",
    "percentile",
    "percentile_interval",
    "rng_for",
    "wilson",
]
