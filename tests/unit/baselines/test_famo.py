"""FAMO (baselines/famo.py): the effective weights and the logits' update after a step."""

from __future__ import annotations

import math
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


def test_the_logits_decay_at_the_authors_gamma() -> None:
    # Adam with L2 weight decay: a step with no loss change (delta = 0) moves only by gamma * xi. After
    # a first step to xi = (-0.025, 0.025), a second step with delta = 0 has gradient 0.01 xi (gamma
    # 0.01, the authors' famo.py; LibMTL's 0.001 gives a gradient ten times smaller, and Adam's second
    # step depends on the ratio of the two gradients)
    famo = FAMOCombiner()
    parameter = nn.Parameter(torch.tensor([1.0, 1.0]))
    famo.backward([2 * parameter[0], parameter[1]], CONTEXT)
    famo.after_step([torch.tensor(1.0), torch.tensor(0.9)])
    first = famo.logits.detach().clone()
    famo.backward([2 * parameter[0], parameter[1]], CONTEXT)
    famo.after_step([2 * parameter[0].detach(), parameter[1].detach()])  # unchanged losses: delta = 0
    lr, beta1, beta2, eps = 0.025, 0.9, 0.999, 1e-8
    z = torch.softmax(torch.zeros(2), 0)
    delta = torch.tensor([math.log(2.0), math.log(1 / 0.9)])
    g1 = (torch.diag(z) - torch.outer(z, z)) @ delta  # the first step's gradient (no decay at xi = 0)
    g2 = 0.01 * first
    m = beta1 * (1 - beta1) * g1 + (1 - beta1) * g2
    v = beta2 * (1 - beta2) * g1**2 + (1 - beta2) * g2**2
    expected = first - lr * (m / (1 - beta1**2)) / ((v / (1 - beta2**2)).sqrt() + eps)
    assert famo.logits.detach().tolist() == pytest.approx(expected.tolist(), rel=1e-4)


def test_resume_is_exact(tmp_path: Path) -> None:
    # the logits and Adam's moments, updated after every step from the recomputed losses
    assert_resume_is_exact("famo", tmp_path / "ck.pt", tasks=3)
