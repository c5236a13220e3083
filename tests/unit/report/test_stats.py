"""Student-t and Welch statistics against closed forms and hand-computed values."""

import math

import pytest

from harness.report.stats import summarize, t_cdf, t_quantile, welch_test


@pytest.mark.parametrize("t", [-3.0, -0.7, 0.0, 0.4, 1.9, 6.0])
def test_t_cdf_matches_the_closed_forms(t: float) -> None:
    assert t_cdf(t, 1) == pytest.approx(0.5 + math.atan(t) / math.pi, abs=1e-10)  # Cauchy
    assert t_cdf(t, 2) == pytest.approx(0.5 + t / (2 * math.sqrt(2 + t * t)), abs=1e-10)
    x = t / math.sqrt(4 + t * t)
    assert t_cdf(t, 4) == pytest.approx(0.5 + 0.75 * x * (1 - x * x / 3), abs=1e-10)


def test_t_quantiles_are_the_table_values() -> None:
    assert t_quantile(0.975, 2) == pytest.approx(4.3027, abs=1e-4)
    assert t_quantile(0.975, 10) == pytest.approx(2.2281, abs=1e-4)
    assert t_quantile(0.975, 1e6) == pytest.approx(1.9600, abs=1e-4)
    assert t_quantile(0.025, 5) == pytest.approx(-2.5706, abs=1e-4)


def test_summary_interval_of_the_published_dwa_seeds() -> None:
    summary = summarize([67.96, 67.98, 67.49])
    assert summary.n == 3 and summary.mean == pytest.approx(67.81)
    assert summary.std == pytest.approx(0.27731, abs=1e-5)  # the published file's std
    half = 4.302653 * 0.2773085 / math.sqrt(3)
    assert summary.ci_low == pytest.approx(67.81 - half, abs=1e-4)
    assert summary.ci_high == pytest.approx(67.81 + half, abs=1e-4)
    single = summarize([1.5])
    assert single.std is None and single.ci_low is None


def test_welch_test_on_hand_computed_values() -> None:
    result = welch_test([1.0, 2.0, 3.0], [4.0, 5.0, 6.0])
    # difference -3, each variance of the mean 1/3, t = -3 / sqrt(2/3), df = 4
    assert result.difference == -3.0
    assert result.t == pytest.approx(-3 / math.sqrt(2 / 3))
    assert result.df == pytest.approx(4.0)
    x = abs(result.t) / math.sqrt(4 + result.t**2)
    assert result.p == pytest.approx(2 * (0.5 - 0.75 * x * (1 - x * x / 3)), abs=1e-10)
    unequal = welch_test([1.0, 1.2, 0.8, 1.1], [3.0, 0.0, 6.0])
    va, vb = 0.0291667 / 4, 9.0 / 3
    assert unequal.df == pytest.approx((va + vb) ** 2 / (va**2 / 3 + vb**2 / 2), rel=1e-4)
    assert welch_test([1.0], [2.0, 3.0]).p is None
    assert welch_test([2.0, 2.0], [2.0, 2.0]).p == 1.0
