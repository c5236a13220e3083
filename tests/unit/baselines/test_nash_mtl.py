"""Nash-MTL (baselines/nash_mtl.py): the bargaining solution by hand and on the toy model."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.nash_mtl import nash_alpha
from baselines.solvers import nash_weights

from .asserts import assert_stateless, gram, orthogonal_toy, toy_step


def test_nash_weights_solve_the_bargaining_equation() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert nash_weights(g).tolist() == pytest.approx([1.0, 0.5])  # G alpha = (1, 2) = 1 / alpha
    for rows in (([1.0, 0.3], [0.4, -2.0]), ([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])):
        _, g = gram(*rows)
        alpha = nash_weights(g)
        assert bool((alpha > 0).all())
        assert (g @ alpha).tolist() == pytest.approx((1 / alpha).tolist(), rel=1e-8)


def test_nash_on_the_toy_model_normalises_the_gram_matrix_and_clips_the_shared_gradient() -> None:
    # parameter gradients: L_1 -> [[1, 1], [0, 0]], L_2 -> [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal;
    # G G^T = diag(2, 8), Frobenius norm sqrt(68): alpha = 68^(1/4) (1/sqrt(2), 1/sqrt(8)) (the authors'
    # normalisation), the update alpha . G = 68^(1/4) [[1, 1], [1, 1]] / sqrt(2) has norm 68^(1/4) sqrt(2)
    # > 1, so it is clipped to norm 1 (factor 1 / (norm + 1e-6), torch's clip_grad_norm_)
    model = orthogonal_toy()
    weights, trunk_grad = toy_step("nash-mtl", model)
    root = 68**0.25
    clip = 1 / (root * math.sqrt(2) + 1e-6)
    assert trunk_grad.reshape(-1).tolist() == pytest.approx([0.5] * 4, rel=1e-6)  # norm 1, equal shares
    assert float(trunk_grad.norm()) == pytest.approx(1.0, rel=1e-5)
    assert weights == pytest.approx([root / math.sqrt(2) * clip, root / math.sqrt(8) * clip], rel=1e-6)
    # heads: alpha_i times their own loss gradient, unclipped: d L_i / d h_i = W x = (1, 1)
    assert model.heads[0].weight.grad.reshape(-1).tolist() == pytest.approx([root / math.sqrt(2)] * 2, rel=1e-6)
    assert model.heads[1].weight.grad.reshape(-1).tolist() == pytest.approx([root / math.sqrt(8)] * 2, rel=1e-6)


def test_a_small_update_is_not_clipped() -> None:
    # |g_1|^2 = 1e-6, |g_2|^2 = 4e-6, orthogonal: |G G^T|_F = 1e-6 sqrt(17), alpha = |G G^T|_F^(1/2) / |g_i|,
    # and the update's squared norm alpha^T G G^T alpha = T |G G^T|_F is far below 1: no clipping
    _, g = gram([1e-3, 0.0], [0.0, 2e-3])
    frobenius = 1e-6 * math.sqrt(17)
    alpha = nash_alpha(g)
    assert alpha.tolist() == pytest.approx([math.sqrt(frobenius) / 1e-3, math.sqrt(frobenius) / 2e-3], rel=1e-9)
    assert float(alpha @ g @ alpha) == pytest.approx(2 * frobenius, rel=1e-9)


def test_has_no_state_to_resume() -> None:
    assert_stateless("nash-mtl")


def test_a_zero_gradient_task_gets_no_weight_and_opposed_gradients_do_not_crash() -> None:
    # task 2's gradient is zero: no finite alpha; the others bargain alone: their Gram matrix I over its
    # Frobenius norm sqrt 2 gives alpha / sqrt 2 = 1 / alpha, alpha = 2^(1/4)
    _, g = gram([1.0, 0.0], [0.0, 0.0], [0.0, 1.0])
    assert nash_alpha(g).tolist() == pytest.approx([2**0.25, 0.0, 2**0.25], rel=1e-9)
    # g_2 = -g_1 with a third task: the Newton system is singular; it must not raise
    _, opposed = gram([1.0, 0.0], [-1.0, 0.0], [0.0, 2.0])
    assert bool(torch.isfinite(nash_alpha(opposed)).all())
