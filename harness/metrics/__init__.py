"""Statistics over trials: percentiles, Wilson intervals, pass^k."""

from harness.metrics._stats import pass_hat_k, percentile, wilson

__all__ = ["pass_hat_k", "percentile", "wilson"]
