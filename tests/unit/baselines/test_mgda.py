"""MGDA-UB (baselines/mgda.py): the min-norm solver and its weights on the representation."""

from __future__ import annotations

import pytest
import torch

from baselines.solvers import min_norm_weights

from .asserts import assert_stateless, gram, orthogonal_toy, toy_step


def test_min_norm_two_tasks_in_closed_form_and_three_exactly() -> None:
    _, g = gram([1.0, 0.0], [0.0, 2.0])
    assert min_norm_weights(g).tolist() == pytest.approx([0.8, 0.2])  # (4 - 0) / (1 + 4)
    _, same_direction = gram([1.0, 0.0], [3.0, 0.0])
    assert min_norm_weights(same_direction).tolist() == pytest.approx([1.0, 0.0])  # clipped
    grads, g3 = gram([1.0, 0.0], [0.0, 1.0], [1.0, 1.0])
    weights = min_norm_weights(g3)
    # the minimum norm point of the hull is (0.5, 0.5), on the edge between g_1 and g_2; Frank-Wolfe
    # stopped 3e-3 away from it
    assert (weights @ grads).tolist() == pytest.approx([0.5, 0.5], abs=1e-12)
    assert weights.tolist() == pytest.approx([0.5, 0.5, 0.0], abs=1e-12)
    assert float(weights.sum()) == pytest.approx(1.0)


def test_mgda_ub_weights_come_from_the_representation() -> None:
    model = orthogonal_toy()
    weights, trunk_grad = toy_step("mgda-ub", model)
    # grad_z L_1 = (1, 0), grad_z L_2 = (0, 2): min-norm weights (0.8, 0.2)
    assert weights == pytest.approx([0.8, 0.2])
    # d(0.8 L_1 + 0.2 L_2)/dW = (0.8 a + 0.2 b) x^T with x = (1, 1)
    assert torch.allclose(trunk_grad, torch.tensor([[0.8, 0.8], [0.4, 0.4]]))
    assert torch.allclose(model.heads[1].weight.grad, torch.tensor([[0.2, 0.2]]))


def test_has_no_state_to_resume() -> None:
    assert_stateless("mgda-ub")
