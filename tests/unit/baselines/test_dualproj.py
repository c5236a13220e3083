"""DualProj (baselines/dualproj.py) on hand-computed values: the mean gradient projected
onto the dual cone with torchjd's trace normalisation and 1e-4 ridge."""

from __future__ import annotations

import pytest
import torch

from baselines.dual_cone import REG_EPS, conditioned_gram, project_weights
from baselines.dualproj import dualproj_weights

from .asserts import TwoHeads, assert_stateless, gram, orthogonal_toy, toy_step


def test_a_mean_that_conflicts_is_projected() -> None:
    # g_1 = (1, 0), g_2 = (-3, 1): the mean (-1, 1/2) conflicts with g_1; its projection onto
    # g_1's half-space, (0, 1/2) = 3/2 g_1 + 1/2 g_2, agrees with g_2. With the trace (11)
    # normalisation and the ridge e: w_2 = 1/2 and w_1 = (3/11 w_2) / (1/11 + e).
    grads, g = gram([1.0, 0.0], [-3.0, 1.0])
    weights = dualproj_weights(g)
    assert weights.tolist() == pytest.approx([1.5 / (1 + 11 * REG_EPS), 0.5], rel=1e-12)
    w_1 = 1.5 / (1 + 11 * REG_EPS)
    assert (weights @ grads).tolist() == pytest.approx([w_1 - 1.5, 0.5], rel=1e-12)  # (0, 1/2) up to the ridge
    assert abs(w_1 - 1.5) < 2e-3


def test_a_mean_inside_the_cone_is_kept() -> None:
    _, g = gram([1.0, 0.0], [-1.0, 1.0])  # mean (0, 1/2): g_1 . mean = 0, g_2 . mean = 1/2
    assert dualproj_weights(g).tolist() == pytest.approx([0.5, 0.5], rel=1e-14)
    _, g = gram([1.0, 0.0], [0.0, 1.0], [-1.0, 0.0])  # mean (0, 1/3), on the cone's edge
    assert dualproj_weights(g).tolist() == pytest.approx([1 / 3] * 3, rel=1e-14)


def test_three_tasks_by_hand() -> None:
    # g_1 = (1, 0), g_2 = (0, 1), g_3 = (-2, -1): mean (-1/3, 0) conflicts with g_1 only;
    # projected onto g_1's normal plane it is 0 -- which g_2 and g_3 accept (0 >= 0): d = 0,
    # i.e. w_1 g_1 + w_3 g_3 + w_2 g_2 = 0 with w_2 = w_3 (the x_2 part) and w_1 = 2 w_3.
    grads, g = gram([1.0, 0.0], [0.0, 1.0], [-2.0, -1.0])
    weights = dualproj_weights(g)
    u = torch.full((3,), 1 / 3, dtype=torch.float64)
    assert weights.tolist() == pytest.approx(project_weights(conditioned_gram(g), u).tolist())
    assert (weights @ grads).tolist() == pytest.approx([0.0, 0.0], abs=1e-3)
    assert bool((weights >= u - 1e-15).all())
    assert float(weights[1]) == pytest.approx(1 / 3, rel=1e-3)
    assert float(weights[0]) == pytest.approx(2 / 3, rel=1e-3)


def test_dualproj_on_the_toy_models() -> None:
    # orthogonal tasks: the mean of g_1 = [[1, 1], [0, 0]] and g_2 = [[0, 0], [2, 2]]
    weights, trunk = toy_step("dualproj", orthogonal_toy())
    assert weights == pytest.approx([0.5, 0.5])
    assert trunk.flatten().tolist() == pytest.approx([0.5, 0.5, 1.0, 1.0])
    # g_1 = [[1, 1], [0, 0]], g_2 = [[-1, -1], [1, 1]]: the mean [[0, 0], [1/2, 1/2]] is in the cone
    weights, trunk = toy_step("dualproj", TwoHeads())
    assert weights == pytest.approx([0.5, 0.5])
    assert trunk.flatten().tolist() == pytest.approx([0.0, 0.0, 0.5, 0.5])
    # heads (1, 0) and (-3, 1): g_1 = [[1, 1], [0, 0]], g_2 = [[-3, -3], [1, 1]], Gram (2, -6, 20)
    weights, trunk = toy_step("dualproj", TwoHeads(second_head=(-3.0, 1.0)))
    w_1 = 1.5 / (1 + 11 * REG_EPS)
    assert weights == pytest.approx([w_1, 0.5], rel=1e-6)
    assert trunk.flatten().tolist() == pytest.approx([w_1 - 1.5, w_1 - 1.5, 0.5, 0.5], rel=1e-5, abs=1e-7)


def test_has_no_state_to_resume() -> None:
    assert_stateless("dualproj")
    assert_stateless("dualproj", tasks=3)
