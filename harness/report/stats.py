"""Small-sample statistics for leaderboards: Student-t intervals, Welch's t-test, the paired
t-test with a bootstrap interval for methods run on the same seeds and folds, Holm's
correction for a board's many comparisons, and the power arithmetic that says how many seeds
a difference needs.

The t and noncentral t distributions come from SciPy (`scipy.stats`), so only the
small-sample conventions (no test below 2 values, the zero-spread cases) live here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
from scipy import optimize
from scipy.stats import nct, norm
from scipy.stats import t as student_t


def _t_critical(level: float, df: float) -> float:
    """The two-sided critical value t_{(1+level)/2, df}."""
    return float(student_t.ppf(0.5 + level / 2, df))


def _two_sided_p(t: float, df: float) -> float:
    """2 P(T > |t|), from the survival function so that tiny p keep their precision."""
    return min(1.0, float(2.0 * student_t.sf(abs(t), df)))


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
    half = _t_critical(level, n - 1) * std / math.sqrt(n)
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
    return Comparison(difference, t, df, _two_sided_p(t, df))


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
    half = _t_critical(level, n - 1) * se
    return PairedComparison(n, mean, mean - half, mean + half, _two_sided_p(mean / se, n - 1), boot_low, boot_high)


def t_interval(values: Sequence[float], level: float = 0.95) -> tuple[float, float] | None:
    """mean ± t_{(1+level)/2, n-1} s/√n, the Student-t interval of the mean; None below 2 values."""
    if len(values) < 2:
        return None
    summary = summarize(list(values), level)
    assert summary.ci_low is not None and summary.ci_high is not None  # n >= 2 always has one
    return summary.ci_low, summary.ci_high


def holm(p_values: Sequence[float | None]) -> list[float | None]:
    """Holm–Bonferroni step-down adjusted p-values, in the input order: a board tests every
    cell against one row, and unadjusted marks would flag about one cell in twenty by chance.
    None (no test possible) stays None and does not count among the m tests."""
    if any(p is not None and not 0.0 <= p <= 1.0 for p in p_values):
        raise ValueError(f"p-values must lie in [0, 1]: {list(p_values)}")
    ranked = sorted((p, index) for index, p in enumerate(p_values) if p is not None)
    m = len(ranked)
    adjusted: list[float | None] = [None] * len(p_values)
    running = 0.0
    for rank, (p, index) in enumerate(ranked):
        running = max(running, min(1.0, (m - rank) * p))  # step-down: never below a smaller p's
        adjusted[index] = running
    return adjusted


def _check_levels(alpha: float, power: float) -> None:
    if not 0.0 < alpha < 1.0 or not alpha < power < 1.0:
        raise ValueError(f"need 0 < alpha < power < 1, got alpha={alpha}, power={power}")


def _paired_power(effect_size: float, n: int, alpha: float) -> float:
    """Power of the two-sided paired t-test with n pairs when the true mean difference is
    effect_size standard deviations: P(|T| > t_{1-α/2, n-1}), T ~ nct(n - 1, effect_size √n)."""
    df, nc = n - 1, effect_size * math.sqrt(n)
    critical = _t_critical(1.0 - alpha, df)
    # P(T < -c) as P(T' > c) with T' ~ nct(df, -nc): SciPy's far-left cdf can return NaN
    return float(nct.sf(critical, df, nc) + nct.sf(critical, df, -nc))


def minimum_detectable_difference(std: float | None, n: int, alpha: float = 0.05, power: float = 0.8) -> float | None:
    """The smallest true mean paired difference that a two-sided paired t-test on n pairs,
    whose differences spread with this std, detects with the given power at level alpha:
    what a board's seeds can resolve. Exact through the noncentral t (the normal
    approximation (z_{1-α/2} + z_power) std/√n is too small for few seeds). None below 2
    pairs or without a std; 0.0 when the differences do not vary."""
    _check_levels(alpha, power)
    if n < 2 or std is None:
        return None
    if std < 0.0:
        raise ValueError(f"std must be >= 0, got {std}")
    if std == 0.0:
        return 0.0
    high = 2.0 * (norm.ppf(1.0 - alpha / 2) + norm.ppf(power)) / math.sqrt(n)
    while _paired_power(high, n, alpha) < power:  # few df need far more than the normal guess
        high *= 2.0
    effect_size = optimize.brentq(lambda d: _paired_power(d, n, alpha) - power, 0.0, high, xtol=1e-13)
    return float(effect_size) * std


def seeds_needed(effect: float, std: float, alpha: float = 0.05, power: float = 0.8, max_n: int = 1000) -> int | None:
    """The fewest pairs (seeds, at least 2) whose paired t-test detects a true difference of
    |effect| given this spread of the differences; None when more than max_n would be needed.
    The detectable difference shrinks with n, so the answer is found by bisection."""
    _check_levels(alpha, power)
    if std < 0.0:
        raise ValueError(f"std must be >= 0, got {std}")

    def enough(n: int) -> bool:
        detectable = minimum_detectable_difference(std, n, alpha, power)
        return detectable is not None and detectable <= abs(effect)

    if max_n < 2 or not enough(max_n):
        return None
    low, high = 1, max_n  # enough(high) holds; low is below the smallest candidate
    while high - low > 1:
        middle = (low + high) // 2
        low, high = (low, middle) if enough(middle) else (middle, high)
    return high
