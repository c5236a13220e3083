"""Nash-MTL (baselines/nash_mtl.py): the bargaining solution by hand and on the toy model."""

from __future__ import annotations

import math

import pytest

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


def test_nash_on_the_toy_model() -> None:
    # parameter gradients: L_1 -> [[1, 1], [0, 0]], L_2 -> [[0, 0], [2, 2]]: |g|^2 = 2 and 8, orthogonal
    weights, trunk_grad = toy_step("nash-mtl", orthogonal_toy())
    assert weights == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(8)])


def test_has_no_state_to_resume() -> None:
    assert_stateless("nash-mtl")
