"""UPGrad (baselines/upgrad.py) and its dual-cone solver (baselines/dual_cone.py) on
hand-computed values: torchjd's mean preference, trace normalisation and 1e-4 ridge."""

from __future__ import annotations

import itertools

import pytest
import torch

from baselines.dual_cone import REG_EPS, conditioned_gram, project_weights
from baselines.upgrad import upgrad_weights

from .asserts import TwoHeads, assert_stateless, gram, orthogonal_toy, toy_step


def test_the_gram_matrix_is_normalised_and_regularised_as_torchjd_does() -> None:
    _, g = gram([1.0, 0.0], [-1.0, 1.0])  # trace 3
    expected = g / 3 + REG_EPS * torch.eye(2, dtype=torch.float64)
    assert torch.allclose(conditioned_gram(g), expected)
    tiny = 1e-5 * g  # trace 3e-5 < norm_eps 1e-4: the Gram matrix becomes zero
    assert torch.allclose(conditioned_gram(tiny), REG_EPS * torch.eye(2, dtype=torch.float64))


def test_projection_weights_satisfy_the_kkt_conditions() -> None:
    generator = torch.Generator().manual_seed(3)
    for count in (2, 3, 5, 8):
        grads = torch.randn(count, 6, generator=generator, dtype=torch.float64)
        g = conditioned_gram(grads @ grads.T)
        for u in (torch.eye(count, dtype=torch.float64) / count).unbind():
            v = project_weights(g, u)
            multipliers = g @ v  # >= 0, and 0 where v_i > u_i
            assert bool((v >= u - 1e-15).all())
            assert bool((multipliers >= -1e-12).all())
            assert float((multipliers * (v - u)).abs().max()) < 1e-12


def test_projection_matches_every_active_set_by_brute_force() -> None:
    generator = torch.Generator().manual_seed(7)
    grads = torch.randn(4, 3, generator=generator, dtype=torch.float64)
    g = conditioned_gram(grads @ grads.T)
    u = torch.tensor([0.25, 0.0, 0.0, 0.0], dtype=torch.float64)
    best, best_value = None, float("inf")
    for free in itertools.product([False, True], repeat=4):
        v = u.clone()
        index = torch.tensor(free)
        if index.any():
            v[index] = torch.linalg.solve(g[index][:, index], -g[index][:, ~index] @ u[~index])
        if bool((v >= u - 1e-15).all()) and float(v @ g @ v) < best_value:
            best, best_value = v, float(v @ g @ v)
    assert best is not None
    assert project_weights(g, u).tolist() == pytest.approx(best.tolist(), abs=1e-12)


def test_two_conflicting_tasks_by_hand() -> None:
    # g_1 = (1, 0), g_2 = (-1, 1): exactly, g_1 / 2 projects to (1/4, 1/4) (onto g_2's normal
    # plane) and g_2 / 2 to (0, 1/2): w = (1, 3/4), d = (1/4, 3/4). With the trace
    # normalisation (a, b, c) = (1, -1, 2) / 3 and the ridge e: w_1 = 1/2 - b / (2 (a + e)),
    # w_2 = 1/2 - b / (2 (c + e)).
    grads, g = gram([1.0, 0.0], [-1.0, 1.0])
    a, b, c, e = 1 / 3, -1 / 3, 2 / 3, REG_EPS
    weights = upgrad_weights(g)
    assert weights.tolist() == pytest.approx([0.5 - b / (2 * (a + e)), 0.5 - b / (2 * (c + e))], rel=1e-12)
    assert (weights @ grads).tolist() == pytest.approx([0.25, 0.75], abs=1e-3)


def test_non_conflicting_tasks_get_the_mean() -> None:
    _, g = gram([1.0, 0.0], [1.0, 1.0])
    assert upgrad_weights(g).tolist() == pytest.approx([0.5, 0.5], rel=1e-14)
    _, g = gram([1.0, 0.0, 0.0], [0.0, 3.0, 0.0], [0.5, 0.5, 1.0])
    assert upgrad_weights(g).tolist() == pytest.approx([1 / 3] * 3, rel=1e-14)


def test_three_tasks_by_hand() -> None:
    # g_1 = (1, 0), g_2 = (0, 1), g_3 = (-1, 0): the dual cone is {x_1 = 0, x_2 >= 0}; the
    # projections of g_i / 3 are 0, (0, 1/3) and 0, so d = (0, 1/3) up to the ridge.
    grads, g = gram([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0])
    d = upgrad_weights(g) @ grads
    assert d.tolist() == pytest.approx([0.0, 1 / 3], abs=1e-3)
    # with the ridge, g_2's own projection is untouched: its weight is its mean weight 1/3
    # plus nothing, and g_1 and g_3 come in equal amounts (the projection is symmetric)
    weights = upgrad_weights(g)
    assert float(weights[0]) == pytest.approx(float(weights[2]), rel=1e-12)
    assert float(weights[1]) == pytest.approx(1 / 3, rel=1e-12)


def test_upgrad_on_the_toy_models() -> None:
    # orthogonal tasks: the mean of g_1 = [[1, 1], [0, 0]] and g_2 = [[0, 0], [2, 2]]
    weights, trunk = toy_step("upgrad", orthogonal_toy())
    assert weights == pytest.approx([0.5, 0.5])
    assert trunk.flatten().tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    # conflicting: g_1 = [[1, 1], [0, 0]], g_2 = [[-1, -1], [1, 1]]: Gram (2, -2, 4) / 6
    weights, trunk = toy_step("upgrad", TwoHeads())
    a, b, c, e = 1 / 3, -1 / 3, 2 / 3, REG_EPS
    expected = [0.5 - b / (2 * (a + e)), 0.5 - b / (2 * (c + e))]
    assert weights == pytest.approx(expected, rel=1e-6)
    first, second = expected[0] - expected[1], expected[1]
    assert trunk.flatten().tolist() == pytest.approx([first, first, second, second], rel=1e-6)


def test_has_no_state_to_resume() -> None:
    assert_stateless("upgrad")
    assert_stateless("upgrad", tasks=3)
