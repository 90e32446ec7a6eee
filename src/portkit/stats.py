"""Statistics shared by bench and gates (numpy only): percentiles and bootstrap confidence intervals."""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

__all__ = ["bootstrap_ci", "bootstrap_median_ci", "percentile"]


def percentile(values: Sequence[float] | np.ndarray, q: float) -> float:
    """q-th percentile (0..100), linear interpolation between the closest ranks (numpy's default)."""
    return float(np.percentile(np.asarray(values, dtype=np.float64), q, method="linear"))


def bootstrap_ci(values: Sequence[float] | np.ndarray, q: float = 50.0, confidence: float = 0.95,
                 resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the q-th percentile (50: the median), resampling with
    replacement.

    The work is capped (about 2e7 drawn indices): large samples get fewer resamples, never fewer than 200;
    the draws go in chunks of about 4e6 indices so memory stays bounded."""
    x = np.asarray(values, dtype=np.float64)
    n = x.size
    if n == 0:
        return (math.nan, math.nan)
    if n == 1:
        return (float(x[0]), float(x[0]))
    rng = np.random.default_rng(seed)
    resamples = max(200, min(resamples, int(2e7 // n)))
    chunk = max(1, int(4e6 // n))
    stats = np.empty(resamples)
    done = 0
    while done < resamples:
        k = min(chunk, resamples - done)
        idx = rng.integers(0, n, size=(k, n))
        stats[done:done + k] = np.percentile(x[idx], q, axis=1)
        done += k
    alpha = (1.0 - confidence) / 2.0
    return (float(np.quantile(stats, alpha)), float(np.quantile(stats, 1.0 - alpha)))


def bootstrap_median_ci(values: Sequence[float] | np.ndarray, confidence: float = 0.95,
                        resamples: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Percentile-bootstrap confidence interval of the median."""
    return bootstrap_ci(values, 50.0, confidence, resamples, seed)
