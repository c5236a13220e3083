"""GradVac (baselines/gradvac.py, beta = 0.01): the vaccine reaches its target cosine."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from baselines.gradvac import vaccinate

from .asserts import assert_resume_is_exact


def test_gradvac_reaches_the_target_cosine() -> None:
    grads = torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64)
    update, coefficients, targets = vaccinate(grads, torch.zeros(2, 2, dtype=torch.float64), torch.Generator())
    # target 0: PCGrad's projections, g1' = (0.5, 0.5), g2' = (0, 1)
    assert update.tolist() == pytest.approx([0.5, 1.5])
    assert coefficients.tolist() == pytest.approx([2.0, 1.5])
    assert targets[0, 1].item() == pytest.approx(0.01 * -math.sqrt(0.5))
    orthogonal = torch.tensor([[1.0, 0.0], [0.0, 1.0]], dtype=torch.float64)
    target = torch.tensor([[0.0, 0.5], [0.5, 0.0]], dtype=torch.float64)
    update, coefficients, _ = vaccinate(orthogonal, target, torch.Generator())
    first = torch.tensor([1.0, coefficients[1].item() - 1], dtype=torch.float64)  # g1' = g1 + w g2
    assert first[1].item() == pytest.approx(0.5 / math.sqrt(0.75))
    assert float(first @ orthogonal[1] / first.norm()) == pytest.approx(0.5)  # cosine = target


def test_resume_is_exact(tmp_path: Path) -> None:
    assert_resume_is_exact("gradvac", tmp_path / "ck.pt", tasks=3)
