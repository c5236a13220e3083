"""Student-t and Welch statistics against closed forms and hand-computed values; Holm's
correction and the paired t-test's power against hand arithmetic and independent integrals."""

import math

import pytest
from scipy import integrate
from scipy.stats import chi2, nct, norm

from harness.report.stats import (
    holm,
    minimum_detectable_difference,
    paired_test,
    seeds_needed,
    summarize,
    summary_of,
    t_interval,
    welch_test,
)


def _closed_form_t_cdf(t: float, df: int) -> float:
    """Student's t CDF for 1, 2 and 4 degrees of freedom in closed form."""
    if df == 1:
        return 0.5 + math.atan(t) / math.pi  # Cauchy
    if df == 2:
        return 0.5 + t / (2 * math.sqrt(2 + t * t))
    x = t / math.sqrt(4 + t * t)
    return 0.5 + 0.75 * x * (1 - x * x / 3)


@pytest.mark.parametrize("df", [1, 2, 4])
@pytest.mark.parametrize("t", [-3.0, -0.7, 0.0, 0.4, 1.9, 6.0])
def test_paired_p_values_match_the_closed_form_t_cdf(t: float, df: int) -> None:
    n = df + 1  # differences with sample mean t/sqrt(n) and sample std 1 give the statistic t
    centred = [i - (n - 1) / 2 for i in range(n)]
    scale = math.sqrt(sum(c * c for c in centred) / (n - 1))
    differences = {i: c / scale + t / math.sqrt(n) for i, c in enumerate(centred)}
    result = paired_test(differences, dict.fromkeys(differences, 0.0))
    assert result is not None and result.p is not None
    assert result.p == pytest.approx(2 * (1 - _closed_form_t_cdf(abs(t), df)), abs=1e-10)


def test_t_critical_values_are_the_table_values() -> None:
    def upper_critical(n: int, level: float = 0.95) -> float:  # the interval of mean 0, std 1 is ±t sqrt(n)
        summary = summary_of(n, 0.0, 1.0, level)
        assert summary.ci_high is not None and summary.ci_low is not None
        assert summary.ci_low == pytest.approx(-summary.ci_high, abs=1e-12)
        return summary.ci_high * math.sqrt(n)

    assert upper_critical(3) == pytest.approx(4.3027, abs=1e-4)
    assert upper_critical(11) == pytest.approx(2.2281, abs=1e-4)
    assert upper_critical(1_000_001) == pytest.approx(1.9600, abs=1e-4)
    assert upper_critical(6) == pytest.approx(2.5706, abs=1e-4)
    assert upper_critical(5, level=0.90) == pytest.approx(2.1318, abs=1e-4)


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
    from harness.report.stats import bootstrap_interval

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


def test_t_interval_is_the_student_interval_of_the_mean() -> None:
    half = 4.302653 * 0.2773085 / math.sqrt(3)  # the published DWA seeds, as above
    assert t_interval([67.96, 67.98, 67.49]) == pytest.approx((67.81 - half, 67.81 + half), abs=1e-4)
    # (1, 2, 3, 4, 5): mean 3, s = sqrt(2.5), t_{0.95, 4} = 2.131847
    half = 2.131847 * math.sqrt(2.5) / math.sqrt(5)
    assert t_interval([1.0, 2.0, 3.0, 4.0, 5.0], level=0.90) == pytest.approx((3 - half, 3 + half), abs=1e-6)
    assert t_interval([1.5]) is None and t_interval([]) is None


def test_holm_adjusts_in_input_order_and_skips_missing_tests() -> None:
    # m = 3; sorted 0.01, 0.03, 0.04 times 3, 2, 1 = 0.03, 0.06, 0.04; the step-down lifts 0.04 to 0.06
    assert holm([0.01, 0.04, 0.03, None]) == pytest.approx([0.03, 0.06, 0.06, None])
    # no lifting needed: 0.001 * 4, 0.01 * 3, 0.02 * 2, 0.3 * 1
    assert holm([0.3, 0.02, 0.001, 0.01]) == pytest.approx([0.3, 0.04, 0.004, 0.03])
    assert holm([0.2]) == [0.2] and holm([]) == [] and holm([None, None]) == [None, None]


def test_holm_step_down_is_monotone() -> None:
    # 0.004 * 3 = 0.012, 0.005 * 2 = 0.010 -> lifted to 0.012, 0.011 * 1 -> lifted to 0.012
    assert holm([0.011, 0.004, 0.005]) == pytest.approx([0.012, 0.012, 0.012])


def test_holm_caps_at_one() -> None:
    # 0.5 * 2 = 1.0, 0.6 * 1 = 0.6 -> lifted to 1.0; 0.4 * 3 = 1.2 -> capped at 1.0
    assert holm([0.6, 0.5]) == pytest.approx([1.0, 1.0])
    assert holm([0.4, 0.9, None, 0.01]) == pytest.approx([0.8, 0.9, None, 0.03])
    assert holm([0.45, 0.5, 0.9]) == pytest.approx([1.0, 1.0, 1.0])
    with pytest.raises(ValueError):
        holm([0.5, 1.2])


def _power_by_integration(difference: float, std: float, n: int) -> float:
    """The paired t-test's power without the noncentral t: average over the sample variance
    (chi-square with n - 1 df) the normal probability that |mean| exceeds the critical value, at alpha = 0.05."""
    df = n - 1
    critical = {2: 4.302653, 8: 2.306004, 9: 2.262157}[df]  # t_{0.975, df} from tables
    shift = difference / std * math.sqrt(n)

    def rejection(v: float) -> float:
        bound = critical * math.sqrt(v / df)
        return float((norm.sf(bound - shift) + norm.cdf(-bound - shift)) * chi2.pdf(v, df))

    return float(integrate.quad(rejection, 0.0, math.inf, epsabs=1e-12, epsrel=1e-10)[0])


def test_minimum_detectable_difference_has_the_requested_power_for_three_seeds() -> None:
    delta = minimum_detectable_difference(1.0, 3)
    assert delta is not None
    assert _power_by_integration(delta, 1.0, 3) == pytest.approx(0.8, abs=1e-6)
    nc = delta * math.sqrt(3)
    assert nct.sf(4.302653, 2, nc) + nct.cdf(-4.302653, 2, nc) == pytest.approx(0.8, abs=1e-6)
    normal = (norm.ppf(0.975) + norm.ppf(0.8)) / math.sqrt(3)
    assert normal == pytest.approx(2.8016 / math.sqrt(3), abs=1e-4)
    assert delta > 1.5 * normal  # the normal approximation badly underestimates it with 2 df
    assert _power_by_integration(normal, 1.0, 3) < 0.6


def test_minimum_detectable_difference_counts_both_tails() -> None:
    # just above alpha the wrong-sign rejections are a large share of the power
    delta = minimum_detectable_difference(1.0, 10, power=0.1)
    assert delta is not None
    assert _power_by_integration(delta, 1.0, 10) == pytest.approx(0.1, abs=1e-6)
    assert _power_by_integration(0.0, 1.0, 10) == pytest.approx(0.05, abs=1e-6)  # the integral's own check


def test_minimum_detectable_difference_scales_and_approaches_the_normal_approximation() -> None:
    three = minimum_detectable_difference(1.0, 3)
    assert three is not None
    assert minimum_detectable_difference(2.5, 3) == pytest.approx(2.5 * three, rel=1e-9)
    assert minimum_detectable_difference(1.0, 40_000) == pytest.approx(2.8016 / 200, rel=1e-3)
    sizes = [minimum_detectable_difference(1.0, n) for n in (2, 3, 5, 10, 100)]
    assert all(a is not None and b is not None and a > b for a, b in zip(sizes, sizes[1:], strict=False))
    assert minimum_detectable_difference(1.0, 1) is None
    assert minimum_detectable_difference(None, 5) is None
    assert minimum_detectable_difference(0.0, 5) == 0.0
    with pytest.raises(ValueError):
        minimum_detectable_difference(1.0, 5, power=0.01)


def test_seeds_needed_for_one_standard_deviation_is_ten() -> None:
    assert seeds_needed(1.0, 1.0) == 10
    assert seeds_needed(-3.0, 3.0) == 10  # the sign of the difference does not matter
    assert _power_by_integration(1.0, 1.0, 10) >= 0.8 > _power_by_integration(1.0, 1.0, 9)


def test_seeds_needed_edge_cases() -> None:
    assert seeds_needed(0.5, 1.0) == 34  # Cohen's d = 0.5, the textbook paired-design answer
    assert seeds_needed(0.5, 1.0, max_n=33) is None
    assert seeds_needed(0.0, 1.0) is None
    assert seeds_needed(0.1, 0.0) == 2
    assert seeds_needed(12.0, 1.0) == 2  # two seeds detect 11.55 std at 0.8 power, barely
