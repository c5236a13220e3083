"""ExcessMTL (baselines/excess_mtl.py): AdaGrad-style excess risks, exponentiated weights
normalised by the first step's risks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.excess_mtl import ExcessMTLCombiner, excess_risks, exponentiated_step
from harness.methods.resolve import registered_method

from .asserts import CONFIG, assert_resume_is_exact, combiner_backward, orthogonal_toy


def test_excess_risks_and_the_exponentiated_step() -> None:
    grads = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)
    risks, squares = excess_risks(grads, None)
    assert squares.tolist() == [[9.0, 16.0], [0.0, 4.0]]
    assert risks.tolist() == pytest.approx([7.0, 2.0])  # sum g^2 / sqrt(g^2 + 1e-7): |g|_1
    later = torch.tensor([[3.0, 4.0], [0.0, 4.0]], dtype=torch.float64)
    risks, squares = excess_risks(later, squares)
    assert risks.tolist() == pytest.approx([9 / math.sqrt(18) + 16 / math.sqrt(32), 16 / math.sqrt(20)])
    weights = exponentiated_step(torch.ones(2, dtype=torch.float64), risks, torch.tensor([7.0, 2.0]))
    raised = [math.exp(0.01 / math.sqrt(2)), math.exp(0.01 * 8 / math.sqrt(20))]  # eta = 0.01
    assert weights.tolist() == pytest.approx([2 * r / sum(raised) for r in raised])


def test_first_step_records_the_risks_and_keeps_equal_weights() -> None:
    model = orthogonal_toy()  # g_a = (1, 1, 0, 0), g_b = (0, 0, 2, 2): risks (2, 4)
    combiner = registered_method("excess-mtl", ("a", "b")).make_combiner(CONFIG)
    assert isinstance(combiner, ExcessMTLCombiner)
    combiner.attach(model, 0)
    x = torch.tensor([[1.0, 1.0]])
    first = combiner_backward(combiner, model, list(model(x)))
    assert first.result.weights == [1.0, 1.0]
    assert first.trunk is not None and first.trunk.tolist() == [[1.0, 1.0], [2.0, 2.0]]  # equal's sum
    assert combiner.initial is not None and combiner.initial.tolist() == pytest.approx([2.0, 4.0])
    for param in model.parameters():
        param.grad = None
    # the same gradients again: both risks fall by sqrt 2, so relative to the first step's they
    # are equal and the weights stay equal (unnormalised, exp(0.01 * 2.83) would beat exp(0.01 * 1.41))
    second = combiner_backward(combiner, model, list(model(x)))
    assert second.result.weights == pytest.approx([1.0, 1.0])
    assert combiner.squares is not None and combiner.squares.tolist() == [[2.0, 2.0, 0.0, 0.0], [0.0, 0.0, 8.0, 8.0]]


def test_unequal_progress_moves_the_weights_and_the_heads() -> None:
    model = orthogonal_toy()
    combiner = registered_method("excess-mtl", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    combiner_backward(combiner, model, list(model(torch.tensor([[1.0, 1.0]]))))
    for param in model.parameters():
        param.grad = None
    step = combiner_backward(combiner, model, list(model(torch.tensor([[1.0, 3.0]]))))
    # g_a = (1, 3, 0, 0): G_a = (2, 10), risk 1/sqrt 2 + 9/sqrt 10 over 2; g_b = (0, 0, 2, 6), risk 4/sqrt 8 + 36/sqrt 40 over 4
    ratio_a = (1 / math.sqrt(2) + 9 / math.sqrt(10)) / 2
    ratio_b = (4 / math.sqrt(8) + 36 / math.sqrt(40)) / 4
    raised = [math.exp(0.01 * ratio_a), math.exp(0.01 * ratio_b)]
    weights = [2 * r / sum(raised) for r in raised]
    assert step.result.weights == pytest.approx(weights, rel=1e-6)
    assert step.trunk is not None
    assert step.trunk.tolist() == [
        pytest.approx([weights[0], 3 * weights[0]]),
        pytest.approx([2 * weights[1], 6 * weights[1]]),
    ]
    # each head: w_i times its own gradient dL_i/dh_i = z = (1, 3)
    assert step.heads[1] is not None and step.heads[1].tolist() == [pytest.approx([weights[1], 3 * weights[1]])]


def test_resume_is_exact(tmp_path: Path) -> None:
    # G travels as a checkpoint tensor, the weights and first risks in the JSON state
    assert_resume_is_exact("excess-mtl", tmp_path / "ck.pt", tasks=3)


def test_a_zero_first_step_risk_keeps_the_weight_instead_of_nan() -> None:
    # task 2 had no gradient at the first step (e_2(1) = 0): its ratio is 0, not inf (the references' NaN)
    weights = exponentiated_step(torch.ones(2), torch.tensor([1.0, 3.0]), torch.tensor([2.0, 0.0]), 0.01)
    raised = torch.tensor([math.exp(0.01 * 0.5), 1.0])
    assert torch.allclose(weights, raised / raised.sum() * 2)
