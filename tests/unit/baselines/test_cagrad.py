"""CAGrad (baselines/cagrad.py, c = 0.4) on hand-computed two-task values."""

from __future__ import annotations

import math

import pytest
import torch

from baselines.cagrad import cagrad_coefficients
from baselines.solvers import cagrad_weights

from .asserts import assert_stateless, gram


def test_cagrad_coefficients() -> None:
    c = 0.4
    same, identical = gram([1.0, 2.0], [1.0, 2.0])  # g_w = g_0 for every w: d = T g (1 + c) / (1 + c^2)
    assert (cagrad_coefficients(identical, c) @ same).tolist() == pytest.approx([2.8 / 1.16, 5.6 / 1.16], rel=1e-6)
    assert cagrad_coefficients(identical, 0.0).tolist() == pytest.approx([1.0, 1.0])  # c = 0: the sum, as `equal`
    grads, g = gram([2.0, 0.0], [0.0, 1.0])
    mean = g.mean(dim=1)
    root_phi = c * math.sqrt(float(g.mean()))
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    values = grid * mean[0] + (1 - grid) * mean[1] + root_phi * torch.sqrt(4 * grid**2 + (1 - grid) ** 2)
    best = float(grid[values.argmin()])
    assert float(cagrad_weights(g, c)[0]) == pytest.approx(best, abs=1e-4)
    w = torch.tensor([best, 1 - best], dtype=torch.float64)
    g_w = w @ grads
    expected = 2 * (grads.mean(0) + root_phi / g_w.norm() * g_w) / (1 + c**2)  # times T = 2, as the authors
    assert (cagrad_coefficients(g, c) @ grads).tolist() == pytest.approx(expected.tolist(), abs=1e-4)


def test_has_no_state_to_resume() -> None:
    assert_stateless("cagrad")
