"""FairGrad (baselines/fairgrad.py): the alpha-fair weights by hand, the authors' alpha 2
(their run.sh files), factor T and clip of the shared gradient to norm 1 on the toy model."""

from __future__ import annotations

import math

import pytest

from baselines.fairgrad import ALPHA, MAX_NORM, fairgrad_coefficients, fairgrad_weights
from baselines.solvers import nash_weights

from .asserts import assert_stateless, gram, orthogonal_toy, toy_step


def test_the_defaults_are_the_authors() -> None:
    # alpha 2.0: every run.sh of OptMN-Lab/fairgrad passes --alpha=2.0 (their code's default is 1.0)
    assert ALPHA == 2.0 and MAX_NORM == 1.0


def test_orthogonal_gradients_by_hand() -> None:
    # |g_1|^2 w_1 = w_1^(-1/alpha): w_i = |g_i|^(-2 alpha / (1 + alpha))
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert fairgrad_weights(g, 1.0).tolist() == pytest.approx([1.0, 0.5], rel=1e-10)  # alpha 1: 1 / |g_i|
    assert fairgrad_weights(g).tolist() == pytest.approx([1.0, 4 ** (-2 / 3)], rel=1e-10)  # alpha 2
    assert fairgrad_weights(g, 0.5).tolist() == pytest.approx([1.0, 4 ** (-1 / 3)], rel=1e-10)
    assert fairgrad_coefficients(g, 1.0).tolist() == pytest.approx([2.0, 1.0], rel=1e-10)  # times T
    assert fairgrad_coefficients(g).tolist() == pytest.approx([2.0, 2 * 4 ** (-2 / 3)], rel=1e-10)


def test_alpha_one_is_the_bargaining_solution() -> None:
    # two tasks: Nash-MTL's closed form (baselines/solvers.py), an independent formula
    _, g = gram([1.0, 0.3], [0.4, -2.0])
    assert fairgrad_weights(g, 1.0).tolist() == pytest.approx(nash_weights(g).tolist(), rel=1e-10)
    a, b, c = float(g[0, 0]), float(g[0, 1]), float(g[1, 1])
    assert float(fairgrad_weights(g, 1.0)[0]) == pytest.approx((a + b * math.sqrt(a / c)) ** -0.5, rel=1e-10)


def test_the_fairness_condition_holds_for_more_tasks() -> None:
    for rows in (
        ([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0]),
        ([1.0, 0.0, 0.0, 0.2], [0.9, 0.1, 0.0, 0.0], [-0.5, 1.0, 0.0, 0.0], [0.0, 0.0, 5.0, 0.0]),
    ):
        _, g = gram(*rows)
        for alpha in (0.5, 1.0, 2.0, 5.0):
            w = fairgrad_weights(g, alpha)
            assert bool((w > 0).all())
            assert (g @ w).tolist() == pytest.approx((w ** (-1 / alpha)).tolist(), rel=1e-9)


def test_a_gram_matrix_scaled_by_s_scales_the_weights_by_s_to_the_minus_alpha_over_one_plus_alpha() -> None:
    _, g = gram([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])
    for alpha in (1.0, 2.0):
        scaled = fairgrad_weights(1e4 * g, alpha) * 1e4 ** (alpha / (1 + alpha))
        assert scaled.tolist() == pytest.approx(fairgrad_weights(g, alpha).tolist(), rel=1e-9)


def test_fairgrad_on_the_toy_model() -> None:
    # g_1 = [[1, 1], [0, 0]], g_2 = [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal; alpha 2:
    # |g_i|^2 w_i = w_i^(-1/2), w_i = |g_i|^(-4/3) = (2^(-2/3), 1/4); d = T G^T w =
    # [[2^(1/3)] * 2, [1] * 2] of norm sqrt(2 (2^(2/3) + 1)) > 1, clipped to norm 1 by the factor
    # 1 / (|d| + 1e-6) (torch's clip_grad_norm_)
    model = orthogonal_toy()
    weights, trunk = toy_step("fairgrad", model)
    cube_root = 2 ** (1 / 3)
    clip = 1 / (math.sqrt(2 * (cube_root**2 + 1)) + 1e-6)
    assert weights == pytest.approx([cube_root * clip, 0.5 * clip], rel=1e-6)
    assert trunk.flatten().tolist() == pytest.approx([cube_root * clip] * 2 + [clip] * 2, rel=1e-6)
    assert float(trunk.norm()) == pytest.approx(1.0, rel=1e-5)
    # heads: their own loss gradients, unscaled and unclipped: d L_i / d h_i = W x = (1, 1)
    assert model.heads[0].weight.grad.flatten().tolist() == pytest.approx([1.0, 1.0], rel=1e-6)
    assert model.heads[1].weight.grad.flatten().tolist() == pytest.approx([1.0, 1.0], rel=1e-6)


def test_has_no_state_to_resume() -> None:
    assert_stateless("fairgrad")
    assert_stateless("fairgrad", tasks=3)
