"""Small-sample statistics for leaderboards: Student-t intervals, Welch's t-test, and the
paired t-test with a bootstrap interval for methods run on the same seeds and folds.

The t distribution's CDF comes from the regularised incomplete beta function, evaluated
with its continued fraction (modified Lentz); no SciPy needed.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from typing import TypeVar

import numpy as np


def _beta_continued_fraction(a: float, b: float, x: float) -> float:
    tiny, eps = 1e-300, 1e-15
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    result = d
    for m in range(1, 500):
        for numerator in (
            m * (b - m) * x / ((a + 2 * m - 1) * (a + 2 * m)),
            -(a + m) * (a + b + m) * x / ((a + 2 * m) * (a + 2 * m + 1)),
        ):
            d = 1.0 + numerator * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + numerator / c
            c = c if abs(c) > tiny else tiny
            result *= c * d
        if abs(c * d - 1.0) < eps:
            break
    return result


def regularized_beta(a: float, b: float, x: float) -> float:
    """I_x(a, b) for a, b > 0 and 0 <= x <= 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_continued_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_continued_fraction(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with `df` (> 0, possibly fractional) degrees of freedom."""
    tail = 0.5 * regularized_beta(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The t with P(T <= t) = p, by bisection on t_cdf."""
    low, high = -1e4, 1e4
    for _ in range(200):
        middle = (low + high) / 2
        if t_cdf(middle, df) < p:
            low = middle
        else:
            high = middle
    return (low + high) / 2


@dataclass(frozen=True)
class Summary:
    n: int
    mean: float
    std: float | None  # sample std (n - 1); None for one value
    ci_low: float | None  # 95% Student-t interval of the mean
    ci_high: float | None


def summarize(values: list[float], level: float = 0.95) -> Summary:
    n = len(values)
    return summary_of(n, statistics.fmean(values), statistics.stdev(values) if n >= 2 else None, level)


def summary_of(n: int, mean: float, std: float | None, level: float = 0.95) -> Summary:
    """Mean, sample std and the Student-t interval of n values (also a paper's reported
    mean ± std, whose values are not known)."""
    if n < 2 or std is None:
        return Summary(n, mean, std if n >= 2 else None, None, None)
    half = t_quantile(0.5 + level / 2, n - 1) * std / math.sqrt(n)
    return Summary(n, mean, std, mean - half, mean + half)


@dataclass(frozen=True)
class Comparison:
    difference: float  # mean(a) - mean(b)
    t: float | None
    df: float | None
    p: float | None  # two-sided; None when a test is impossible (fewer than 2 values a side)


def welch_test(a: list[float], b: list[float]) -> Comparison:
    """Welch's unequal-variance t-test of mean(a) = mean(b), two-sided."""
    difference = statistics.fmean(a) - statistics.fmean(b)
    if len(a) < 2 or len(b) < 2:
        return Comparison(difference, None, None, None)
    va, vb = statistics.variance(a) / len(a), statistics.variance(b) / len(b)
    if va + vb == 0.0:
        p = 1.0 if difference == 0 else 0.0
        return Comparison(difference, None, None, p)
    t = difference / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    p = 2.0 * (1.0 - t_cdf(abs(t), df))
    return Comparison(difference, t, df, min(1.0, max(0.0, p)))


@dataclass(frozen=True)
class PairedComparison:
    """mean over shared units (seed, fold) of a - b, with its 95% Student-t interval, the
    paired t-test's two-sided p and a bootstrap percentile interval over the units."""

    n: int
    difference: float
    ci_low: float | None
    ci_high: float | None
    p: float | None  # None with fewer than 2 pairs
    bootstrap_low: float | None
    bootstrap_high: float | None


BOOTSTRAP_DRAWS = 10_000
Unit = TypeVar("Unit", bound=Hashable)  # what pairs two values: (seed, fold) on a board
EXACT_BOOTSTRAP_MAX = 6  # n^n resamples enumerated up to n = 6 (46,656): exact, no randomness


def bootstrap_interval(values: list[float], level: float = 0.95) -> tuple[float, float]:
    """Percentile interval of the mean under resampling with replacement: every one of the
    n^n resamples for small n (seeds are few), else 10,000 draws from a fixed-seed generator,
    so a board is the same each time it is rendered."""
    n = len(values)
    data = np.asarray(values, dtype=np.float64)
    if n <= EXACT_BOOTSTRAP_MAX:  # every index tuple, as rows of an (n^n, n) array
        picks = np.stack(np.meshgrid(*[np.arange(n)] * n, indexing="ij"), axis=-1).reshape(-1, n)
    else:
        picks = np.random.default_rng(0).integers(0, n, size=(BOOTSTRAP_DRAWS, n))
    means = np.sort(data[picks].mean(axis=1))
    tail = (1 - level) / 2
    low = means[math.floor(tail * len(means))]
    high = means[math.ceil((1 - tail) * len(means)) - 1]
    return float(low), float(high)


def paired_test(a: Mapping[Unit, float], b: Mapping[Unit, float], level: float = 0.95) -> PairedComparison | None:
    """The paired comparison of a and b over the units (seeds, folds) both have; None when
    they share none."""
    shared = [unit for unit in a if unit in b]
    if not shared:
        return None
    differences = [a[unit] - b[unit] for unit in shared]
    n = len(differences)
    mean = statistics.fmean(differences)
    if n < 2:
        return PairedComparison(n, mean, None, None, None, None, None)
    boot_low, boot_high = bootstrap_interval(differences, level)
    std = statistics.stdev(differences)
    if std == 0.0:
        p = 1.0 if mean == 0 else 0.0
        return PairedComparison(n, mean, mean, mean, p, boot_low, boot_high)
    se = std / math.sqrt(n)
    half = t_quantile(0.5 + level / 2, n - 1) * se
    p = 2.0 * (1.0 - t_cdf(abs(mean / se), n - 1))
    return PairedComparison(n, mean, mean - half, mean + half, min(1.0, max(0.0, p)), boot_low, boot_high)
