"""FAMO (baselines/famo.py): the effective weights and the logits' update after a step."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from baselines.famo import FAMOCombiner

from .asserts import CONTEXT, assert_resume_is_exact, weight_list


def test_famo_weights_and_update() -> None:
    famo = FAMOCombiner()
    assert famo.effective_weights(torch.tensor([2.0, 1.0])).tolist() == pytest.approx([1 / 3, 2 / 3])
    parameter = nn.Parameter(torch.tensor([1.0, 1.0]))
    losses = [2 * parameter[0], parameter[1]]
    result = famo.backward(losses, CONTEXT)
    assert weight_list(result) == pytest.approx([1 / 3, 2 / 3])
    assert parameter.grad.tolist() == pytest.approx([2 / 3, 2 / 3])
    famo.after_step([torch.tensor(1.0), torch.tensor(0.9)])  # task 1 fell by log 2, task 2 by log(1/0.9)
    logits = famo.logits.detach()
    assert logits[1] > 0 > logits[0]  # the task that improved least gains weight
    assert logits.tolist() == pytest.approx([-0.025, 0.025], rel=1e-3)  # Adam's first step: lr x sign


def test_resume_is_exact(tmp_path: Path) -> None:
    # the logits and Adam's moments, updated after every step from the recomputed losses
    assert_resume_is_exact("famo", tmp_path / "ck.pt", tasks=3)
