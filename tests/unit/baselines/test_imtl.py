"""IMTL (baselines/imtl.py): IMTL-G's equal projections and IMTL-L's learned scales."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from baselines.solvers import imtl_g_weights
from harness.methods.resolve import registered_method

from .asserts import CONFIG, CONTEXT, assert_resume_is_exact, gram, orthogonal_toy, toy_step


def test_imtl_g_gives_equal_projections() -> None:
    grads, _ = gram([1.0, 0.0], [0.0, 2.0])
    alpha = imtl_g_weights(grads)
    assert alpha.tolist() == pytest.approx([2 / 3, 1 / 3])  # alpha_2 = g1.U / (D.U) = 1 / 3
    skewed, _ = gram([1.0, 0.5, 0.0], [-0.3, 2.0, 1.0], [0.2, 0.1, 3.0])
    alpha = imtl_g_weights(skewed)
    aggregated = alpha @ skewed
    projections = skewed @ aggregated / skewed.norm(dim=1)
    assert float(alpha.sum()) == pytest.approx(1.0)
    assert projections.tolist() == pytest.approx([float(projections[0])] * 3, rel=1e-8)


def test_imtl_scales_losses_and_learns_the_scales() -> None:
    model = orthogonal_toy()
    weights, _ = toy_step("imtl", model)
    assert weights == pytest.approx([2 / 3, 1 / 3])  # s = 0 at the first step: alpha only
    combiner = registered_method("imtl", ("a", "b")).make_combiner(CONFIG)
    combiner.attach(model, 0)
    losses = list(model(torch.tensor([[1.0, 1.0]])))  # L = (1, 2)
    combiner.backward(losses, CONTEXT)
    # d/ds (e^s L - s) at s = 0 is L - 1 = (0, 1); SGD lr 0.1 with weight decay on 0 gives (0, -0.1)
    assert combiner.scales.detach().tolist() == pytest.approx([0.0, -0.1], abs=1e-7)


def test_resume_is_exact(tmp_path: Path) -> None:
    assert_resume_is_exact("imtl", tmp_path / "ck.pt", tasks=3)
