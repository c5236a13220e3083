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


def test_paired_test_and_exact_bootstrap_on_hand_computed_values() -> None:
    from harness.report.stats import bootstrap_interval, paired_test

    # differences 1, 2, 3 over seeds: mean 2, sd 1, t = 2 sqrt 3 on 2 df; p = 1 - t / sqrt(2 + t^2)
    result = paired_test({"s1": 3.0, "s2": 4.0, "s3": 5.0, "only-a": 9.0}, {"s1": 2.0, "s2": 2.0, "s3": 2.0})
    assert result is not None and result.n == 3 and result.difference == 2.0  # unshared units are ignored
    t = 2 * math.sqrt(3)
    assert result.p == pytest.approx(1 - t / math.sqrt(2 + t * t), abs=1e-9)
    assert (result.ci_low, result.ci_high) == pytest.approx((2 - 4.302653 / math.sqrt(3), 2 + 4.302653 / math.sqrt(3)))
    # the 27 resamples of (1, 2, 3): sums 3..9 with counts 1, 3, 6, 7, 6, 3, 1; the 2.5% and 97.5%
    # order statistics (the 1st and 27th of 27) are the means 1 and 3
    assert (result.bootstrap_low, result.bootstrap_high) == (1.0, 3.0)
    assert bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]) == bootstrap_interval(
        [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0]
    )
    low, high = bootstrap_interval([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0])  # sampled (7^7 > the exact limit)
    assert 2.0 < low < 4.0 < high < 6.0
    assert paired_test({"a": 1.0}, {"b": 1.0}) is None
    single = paired_test({"a": 2.0}, {"a": 1.0})
    assert single is not None and single.p is None and single.difference == 1.0
    constant = paired_test({1: 2.0, 2: 3.0}, {1: 1.0, 2: 2.0})
    assert constant is not None and constant.p == 0.0 and constant.ci_low == constant.ci_high == 1.0
