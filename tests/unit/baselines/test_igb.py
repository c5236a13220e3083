"""IGBv1 (baselines/igb.py): log losses with unit weights until the base epoch's average
losses exist, then T softmax(L / base)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from baselines.igb import IGBCombiner, igb_weights
from harness.api import StepContext
from harness.methods.resolve import registered_method

from .asserts import CONFIG, CONTEXT, assert_resume_is_exact, weight_list


def test_igb_weights() -> None:
    assert igb_weights(torch.tensor([1.0, 2.0]), None).tolist() == [1.0, 1.0]
    weights = igb_weights(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 1.0]))  # gaps (1/2, 2)
    assert weights.tolist() == pytest.approx([2 / (1 + math.exp(1.5)), 2 / (1 + math.exp(-1.5))])


def step(igb: IGBCombiner, values: tuple[float, float], epoch: int) -> tuple[list[float], list[float]]:
    """One step on L = values * p at p = (1, 1): (reported weights, p's gradient)."""
    p = nn.Parameter(torch.ones(2))
    result = igb.backward([values[0] * p[0], values[1] * p[1]], StepContext(epoch, 4, 0.1))
    assert p.grad is not None
    return weight_list(result), p.grad.tolist()


def test_igb_uses_the_second_epochs_average_losses() -> None:
    igb = IGBCombiner(2)
    # epoch 0: sum log L, d total / d L = 1 / L; the gradient of log(c p) is 1 / p = 1
    assert step(igb, (2.0, 4.0), 0) == (pytest.approx([0.5, 0.25]), pytest.approx([1.0, 1.0]))
    step(igb, (50.0, 50.0), 0)  # not in the base (the authors' default base epoch is 1, 0-based)
    assert step(igb, (1.0, 4.0), 1)[0] == pytest.approx([1.0, 0.25])  # still unit weights
    step(igb, (3.0, 2.0), 1)  # base = (2, 3), set when epoch 2 starts
    weights, grad = step(igb, (2.0, 6.0), 2)  # gaps (1, 2)
    w = [2 / (1 + math.e), 2 / (1 + math.exp(-1))]
    assert weights == pytest.approx([w[0] / 2, w[1] / 6])
    assert grad == pytest.approx(w)  # w_i d log(c p_i) / d p_i


def test_resume_is_exact(tmp_path: Path) -> None:
    # the base epoch's running sums and count, then the base losses, travel in the JSON state
    assert_resume_is_exact("igb", tmp_path / "ck.pt", tasks=3)


def test_a_batch_loss_of_zero_stays_finite() -> None:
    combiner = registered_method("igb", ("a", "b")).make_combiner(CONFIG)
    parameter = torch.nn.Parameter(torch.tensor([0.0, 1.0]))
    combiner.attach(torch.nn.Linear(1, 1), 0)
    combiner.backward([parameter[0] * parameter[0], parameter[1]], CONTEXT)  # L_1 = 0 exactly
    assert parameter.grad is not None and bool(torch.isfinite(parameter.grad).all())
