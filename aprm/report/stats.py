"""Confidence intervals for the report, from scipy (no hand-rolled statistics).

- Over seeds: Student-t interval of the mean (scipy.stats.t.interval); one seed has no interval.
- Method vs baseline: paired bootstrap over problems (scipy.stats.bootstrap, paired=True), so
  the shared difficulty of each problem cancels and only the methods' disagreement counts.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class SeedSummary:
    mean: float
    half_width: float | None  # None with a single seed: no interval exists
    n: int


@dataclass(frozen=True)
class PairedDifference:
    diff: float  # mean(a) - mean(b)
    low: float | None
    high: float | None
    n: int  # paired problems
    method: str  # the bootstrap interval method actually used


def seed_summary(values: Sequence[float], confidence: float = 0.95) -> SeedSummary:
    """Mean over seeds with the half-width of its t-interval."""
    arr = np.asarray(values, dtype=float)
    if arr.size == 0:
        raise ValueError("seed_summary: no values")
    mean = float(arr.mean())
    if arr.size == 1:
        return SeedSummary(mean, None, 1)
    sem = float(stats.sem(arr))
    if sem == 0.0:  # identical seeds: scipy returns NaN for a zero scale, the interval is a point
        return SeedSummary(mean, 0.0, int(arr.size))
    low, high = stats.t.interval(confidence, df=arr.size - 1, loc=mean, scale=sem)
    return SeedSummary(mean, float(high - mean), int(arr.size))


def _mean_difference(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
    return np.mean(x - y, axis=axis)


def paired_difference(a: Sequence[float], b: Sequence[float], *, confidence: float = 0.95,
                      n_resamples: int = 9999, seed: int = 0,
                      method: str = "BCa") -> PairedDifference:
    """Bootstrap CI of mean(a - b) resampling problems (pairs) with replacement, seeded.

    When every pair has the same difference each resample has that mean, so the interval is that
    point (BCa's acceleration would be 0/0). If BCa still comes out NaN (a too-discrete
    distribution), the percentile interval of the same resamples is used and `method` says so.
    """
    x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(
            f"paired_difference: a and b must be equal-length 1-D, got {x.shape}, {y.shape}")
    if x.size == 0:
        raise ValueError("paired_difference: no pairs")
    diffs = x - y
    diff = float(diffs.mean())
    if x.size == 1:
        return PairedDifference(diff, None, None, 1, "none")
    if np.all(diffs == diffs[0]):
        return PairedDifference(diff, diff, diff, int(x.size), "exact")
    common = dict(statistic=_mean_difference, paired=True, vectorized=True,
                  confidence_level=confidence)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap((x, y), n_resamples=n_resamples, method=method,
                                 rng=np.random.default_rng(seed), **common)
        low, high = result.confidence_interval
        used = method
        if not (np.isfinite(low) and np.isfinite(high)):
            result = stats.bootstrap((x, y), n_resamples=0, method="percentile",
                                     bootstrap_result=result, rng=np.random.default_rng(seed),
                                     **common)
            low, high = result.confidence_interval
            used = "percentile"
    return PairedDifference(diff, float(low), float(high), int(x.size), used)
