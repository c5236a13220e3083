"""MoCo (baselines/moco.py): loss-scaled tracking, the softmax step on lambda, the defaults."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.moco import moco_update

from .asserts import assert_resume_is_exact, orthogonal_toy, toy_step


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x))


def test_moco_tracks_scaled_gradients_and_steps_lambda() -> None:
    grads = torch.tensor([[3.0, 4.0], [0.0, 2.0]], dtype=torch.float64)  # norms 5 and 2
    losses = torch.tensor([1.0, 4.0], dtype=torch.float64)
    start = torch.full((2,), 0.5, dtype=torch.float64)
    update, tracked, weights, coefficients = moco_update(grads, losses, torch.zeros_like(grads), start, 1)
    # g' = L g / |g| = (0.6, 0.8) and (0, 4); beta_1 = 0.5 halves them into y
    assert tracked.tolist() == [pytest.approx([0.3, 0.4]), pytest.approx([0.0, 2.0])]
    # Y Y^T lambda = (0.525, 2.4); gamma_1 = 0.1: logits (0.5 - 0.0525, 0.5 - 0.24)
    first = sigmoid(0.4475 - 0.26)
    assert weights.tolist() == pytest.approx([first, 1 - first])
    assert update.tolist() == pytest.approx([0.3 * first, 0.4 * first + 2.0 * (1 - first)])
    assert coefficients.tolist() == pytest.approx([first / 5, (1 - first) * 4 / 2])
    # step 2, same gradients: beta_2 = 0.5 / sqrt(2) of the way from y to g'
    _, second, _, _ = moco_update(grads, losses, tracked, weights, 2)
    rate = 0.5 / math.sqrt(2)
    assert second[0].tolist() == pytest.approx([0.3 + rate * 0.3, 0.4 + rate * 0.4])


def test_moco_on_the_orthogonal_toy() -> None:
    # g_a = (1, 1, 0, 0), g_b = (0, 0, 2, 2); L = (1, 2): g' = (1, 1, 0, 0) / sqrt 2, (0, 0, 1, 1) sqrt 2
    weights, trunk = toy_step("moco", orthogonal_toy())
    # y = g' / 2: Y Y^T = diag(1/4, 1); logits 0.5 - 0.1 (1/8, 1/2)
    first = sigmoid(0.1 * (0.5 - 0.125))
    assert weights == pytest.approx([first / math.sqrt(2), (1 - first) / math.sqrt(2)], rel=1e-6)
    expected = [[first * 0.5 / math.sqrt(2)] * 2, [(1 - first) * 0.5 * math.sqrt(2)] * 2]
    assert trunk.tolist() == [pytest.approx(row, rel=1e-6) for row in expected]


def test_resume_is_exact(tmp_path: Path) -> None:
    # y travels as a checkpoint tensor, lambda and the step count in the JSON state
    assert_resume_is_exact("moco", tmp_path / "ck.pt", tasks=3)
