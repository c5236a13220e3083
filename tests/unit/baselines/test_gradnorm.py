"""GradNorm (baselines/gradnorm.py, alpha = 1.5): the weights' gradient and update."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.gradnorm import gradnorm_weight_gradient
from harness.methods.resolve import registered_method

from .asserts import CONFIG, CONTEXT, assert_resume_is_exact, orthogonal_toy, weight_list


def test_gradnorm_weight_gradient() -> None:
    gradient = gradnorm_weight_gradient(
        torch.ones(2), torch.tensor([2.0, 1.0]), torch.tensor([1.0, 1.0]), torch.tensor([2.0, 1.0])
    )
    # G = (2, 1), mean 1.5; r = (2/3, 4/3); target = 1.5 r^1.5 = (0.816, 2.309): signs (+, -)
    assert gradient.tolist() == [2.0, -1.0]


def test_gradnorm_combiner_steps_and_renormalises() -> None:
    model = orthogonal_toy()
    combiner = registered_method("gradnorm", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    losses = list(model(torch.tensor([[1.0, 1.0]])))
    result = combiner.backward(losses, CONTEXT)
    assert weight_list(result) == [1.0, 1.0]  # the step uses the weights before their update
    # first step: L = L(0), r = 1; |grad_W L_i| = sqrt 2, sqrt 8: G = (1.41, 2.83), target 2.12: signs (-, +)
    raw = torch.tensor([1 + 0.1 * math.sqrt(2), 1 - 0.1 * math.sqrt(8)])
    assert combiner.weights.detach().tolist() == pytest.approx((2 * raw / raw.sum()).tolist(), rel=1e-6)


def test_resume_is_exact(tmp_path: Path) -> None:
    assert_resume_is_exact("gradnorm", tmp_path / "ck.pt", tasks=3)
