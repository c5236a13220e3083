"""Nash-MTL (baselines/nash_mtl.py): the bargaining solution on the raw Gram matrix, as the
authors' code computes it, by hand at several gradient scales and on the toy model."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.nash_mtl import nash_alpha
from baselines.solvers import nash_weights

from .asserts import assert_stateless, gram, orthogonal_toy, toy_step

SCALES = (1e-3, 1.0, 10.0)
THREE_TASKS = ([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])


def test_nash_weights_solve_the_bargaining_equation() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert nash_weights(g).tolist() == pytest.approx([1.0, 0.5])  # G alpha = (1, 2) = 1 / alpha
    for rows in (([1.0, 0.3], [0.4, -2.0]), THREE_TASKS):
        _, g = gram(*rows)
        alpha = nash_weights(g)
        assert bool((alpha > 0).all())
        assert (g @ alpha).tolist() == pytest.approx((1 / alpha).tolist(), rel=1e-8)


@pytest.mark.parametrize("scale", SCALES)
def test_alpha_solves_the_authors_equation_on_the_raw_gram_matrix(scale: float) -> None:
    # the authors' constraint -log(alpha_i nf) - log((GTG / nf) alpha)_i <= 0 is
    # alpha_i (G G^T alpha)_i >= 1 on the raw matrix, with equality at the solution: no
    # normalisation survives, so alpha scales as 1 / scale
    # orthogonal, |g_1| = s, |g_2| = 2 s: alpha_i |g_i|^2 alpha_i = 1, alpha = (1 / s, 1 / (2 s))
    _, g = gram([scale, 0.0], [0.0, 2 * scale])
    assert nash_alpha(g).tolist() == pytest.approx([1 / scale, 1 / (2 * scale)], rel=1e-12)
    # g_1 = s (1, 0), g_2 = s (1, 1): a = s^2, b = s^2, c = 2 s^2; the closed form
    # alpha_1 = (a + b sqrt(a / c))^(-1/2) = (1 + 1 / sqrt 2)^(-1/2) / s,
    # alpha_2 = (c + b sqrt(c / a))^(-1/2) = (2 + sqrt 2)^(-1/2) / s
    _, g = gram([scale, 0.0], [scale, scale])
    alpha = nash_alpha(g)
    want = [(1 + 1 / math.sqrt(2)) ** -0.5 / scale, (2 + math.sqrt(2)) ** -0.5 / scale]
    assert alpha.tolist() == pytest.approx(want, rel=1e-12)
    # by hand: G G^T alpha = s^2 (alpha_1 + alpha_2, alpha_1 + 2 alpha_2) = (1 / alpha_1, 1 / alpha_2)
    assert (alpha * (g @ alpha)).tolist() == pytest.approx([1.0, 1.0], rel=1e-12)
    # three tasks: alpha_i (G G^T alpha)_i = 1 for every i, so |alpha . G|^2 = alpha^T G G^T alpha = T
    grads, g = gram(*THREE_TASKS)
    alpha = nash_alpha(scale**2 * g)
    assert (alpha * (scale**2 * g @ alpha)).tolist() == pytest.approx([1.0, 1.0, 1.0], rel=1e-9)
    assert float((alpha @ (scale * grads)).norm() ** 2) == pytest.approx(3.0, rel=1e-9)
    assert (alpha * scale).tolist() == pytest.approx(nash_weights(g).tolist(), rel=1e-9)


def test_alpha_matches_the_authors_code_run_on_the_same_gradients() -> None:
    # AvivNavon/nash-mtl NashMTL.get_weighted_loss re-typed with cvxpy 1.9.3 and ECOS (not a
    # dependency: run once, its first-step alphas recorded here); it stops at its own 1e-6
    # tolerance on successive alphas, so agreement is to about 1e-6
    _, two = gram([1.0, 0.3], [0.4, -2.0])
    _, three = gram(*THREE_TASKS)
    theirs = {
        (1e-2, 2): [100.6245971078491, 51.50751727406466],
        (1.0, 2): [1.0062458464916324, 0.5150752533163887],
        (10.0, 2): [0.10062458695776233, 0.051507525612974024],
        (1e-2, 3): [78.3677264368408, 32.64371926634893, 27.173154072795683],
        (1.0, 3): [0.7836772601895222, 0.3264371906343329, 0.27173155229467727],
        (10.0, 3): [0.0783677306590528, 0.03264371947189998, 0.027173155241327986],
    }
    for (scale, tasks), want in theirs.items():
        g = two if tasks == 2 else three
        assert nash_alpha(scale**2 * g).tolist() == pytest.approx(want, rel=2e-6)


def test_nash_on_the_toy_model_clips_the_shared_gradient_and_scales_the_heads_by_alpha() -> None:
    # parameter gradients: L_1 -> [[1, 1], [0, 0]], L_2 -> [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal;
    # alpha = (1 / sqrt 2, 1 / sqrt 8); the update alpha . G = [[1, 1], [1, 1]] / sqrt 2 has norm
    # sqrt 2 = sqrt T > 1, so it is clipped to norm 1 (factor 1 / (sqrt 2 + 1e-6), torch's clip_grad_norm_)
    model = orthogonal_toy()
    weights, trunk_grad = toy_step("nash-mtl", model)
    clip = 1 / (math.sqrt(2) + 1e-6)
    assert trunk_grad.reshape(-1).tolist() == pytest.approx([0.5] * 4, rel=1e-6)  # norm 1, equal shares
    assert float(trunk_grad.norm()) == pytest.approx(1.0, rel=1e-5)
    assert weights == pytest.approx([clip / math.sqrt(2), clip / math.sqrt(8)], rel=1e-6)
    # heads: alpha_i times their own loss gradient, unclipped: d L_i / d h_i = W x = (1, 1)
    assert model.heads[0].weight.grad.reshape(-1).tolist() == pytest.approx([1 / math.sqrt(2)] * 2, rel=1e-6)
    assert model.heads[1].weight.grad.reshape(-1).tolist() == pytest.approx([1 / math.sqrt(8)] * 2, rel=1e-6)


def test_a_small_update_is_brought_up_to_the_clip() -> None:
    # the toy with heads 1000 times smaller: |g_1|^2 = 2e-6, |g_2|^2 = 8e-6; alpha = 1000 (1 / sqrt 2,
    # 1 / sqrt 8), so the update is the same [[1, 1], [1, 1]] / sqrt 2 of norm sqrt T as at scale 1 and
    # is clipped to norm 1 (with the Gram matrix over its Frobenius norm it would have had norm
    # 68^(1/4) 1e-3 sqrt 2 = 4e-3, left unclipped); the heads get alpha_i (1, 1), unclipped
    model = orthogonal_toy()
    with torch.no_grad():
        model.heads[0].weight.mul_(1e-3)
        model.heads[1].weight.mul_(1e-3)
    weights, trunk_grad = toy_step("nash-mtl", model)
    clip = 1 / (math.sqrt(2) + 1e-6)
    assert float(trunk_grad.norm()) == pytest.approx(1.0, rel=1e-5)
    assert trunk_grad.reshape(-1).tolist() == pytest.approx([0.5] * 4, rel=1e-5)
    assert weights == pytest.approx([1e3 * clip / math.sqrt(2), 1e3 * clip / math.sqrt(8)], rel=1e-5)
    assert model.heads[0].weight.grad.reshape(-1).tolist() == pytest.approx([1e3 / math.sqrt(2)] * 2, rel=1e-5)
    assert model.heads[1].weight.grad.reshape(-1).tolist() == pytest.approx([1e3 / math.sqrt(8)] * 2, rel=1e-5)


def test_has_no_state_to_resume() -> None:
    assert_stateless("nash-mtl")


def test_a_zero_gradient_task_gets_no_weight_and_opposed_gradients_do_not_crash() -> None:
    # task 2's gradient is zero: no finite alpha; the others bargain alone: their Gram matrix is I,
    # alpha_i (I alpha)_i = 1 gives alpha = 1
    _, g = gram([1.0, 0.0], [0.0, 0.0], [0.0, 1.0])
    assert nash_alpha(g).tolist() == pytest.approx([1.0, 0.0, 1.0], rel=1e-9)
    # g_2 = -g_1 with a third task: the Newton system is singular; it must not raise
    _, opposed = gram([1.0, 0.0], [-1.0, 0.0], [0.0, 2.0])
    assert bool(torch.isfinite(nash_alpha(opposed)).all())
