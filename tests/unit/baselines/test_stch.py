"""STCH (baselines/stch.py): the log-loss warm-up, the nadir vector of the warm-up epoch and
the smooth Tchebycheff weights after it, by hand; exact resume of that state."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

import baselines.stch as stch
from baselines.stch import MU, WARMUP_EPOCHS, STCHCombiner
from harness.api.method import StepContext

from .asserts import assert_resume_is_exact, weight_list


def step(combiner: STCHCombiner, values: list[float], epoch: int) -> tuple[list[float], list[float]]:
    """One step on losses L_i = values_i * theta_i at theta = 1: weights and theta's gradient
    (d total / d theta_i = w_i values_i)."""
    theta = nn.Parameter(torch.ones(len(values)))
    losses = [v * theta[i] for i, v in enumerate(values)]
    result = combiner.backward(losses, StepContext(epoch, 10, 0.1))
    assert theta.grad is not None
    return weight_list(result), theta.grad.tolist()


def test_the_defaults_are_the_authors() -> None:
    assert MU == 1.0 and WARMUP_EPOCHS == 4


def test_warm_up_trains_the_sum_of_log_losses() -> None:
    combiner = STCHCombiner()
    for epoch in range(WARMUP_EPOCHS):
        weights, grad = step(combiner, [2.0, 0.5, 4.0], epoch)
        assert weights == pytest.approx([0.5, 2.0, 0.25])  # d log L / d L = 1 / L
        assert grad == pytest.approx([1.0, 1.0, 1.0])
    assert combiner.loss_sum is None and combiner.count == 0 and combiner.nadir is None


def test_the_warm_up_epoch_finds_the_nadir_then_smooth_tchebycheff_weights() -> None:
    combiner = STCHCombiner()
    assert step(combiner, [1.0, 1.0], WARMUP_EPOCHS)[0] == pytest.approx([1.0, 1.0])  # still log losses
    assert step(combiner, [3.0, 1.0], WARMUP_EPOCHS)[0] == pytest.approx([1 / 3, 1.0])
    # z = mean of the warm-up epoch's losses = (2, 1); losses (1, 2): L / z = (1/2, 2), and with
    # mu = 1 the weights are T / (z_i sum_j L_j / z_j) = 2 / (z_i 5/2) = (0.4, 0.8)
    weights, grad = step(combiner, [1.0, 2.0], WARMUP_EPOCHS + 1)
    assert weights == pytest.approx([0.4, 0.8], rel=1e-6)
    assert grad == pytest.approx([0.4, 1.6], rel=1e-6)
    assert combiner.nadir is not None and combiner.nadir.tolist() == [2.0, 1.0]
    weights, _ = step(combiner, [2.0, 1.0], WARMUP_EPOCHS + 2)  # at the nadir: T p_i / z_i = 1 / z_i
    assert weights == pytest.approx([0.5, 1.0], rel=1e-6)
    assert combiner.nadir.tolist() == [2.0, 1.0]  # fixed once found


def test_a_smaller_mu_sharpens_towards_the_worst_task() -> None:
    combiner = STCHCombiner(mu=0.5, warmup_epochs=0)
    step(combiner, [2.0, 1.0], 0)  # z = (2, 1)
    # L / z = (1/2, 2): p = softmax(2 log(L / z)) = (1/4, 4) / (17/4); w_i = T p_i / L_i
    weights, _ = step(combiner, [1.0, 2.0], 1)
    p = [0.25 / 4.25, 4 / 4.25]
    assert weights == pytest.approx([2 * p[0] / 1.0, 2 * p[1] / 2.0], rel=1e-6)
    # the total is T mu log sum_i exp(log(L_i / z_i) / mu): check the weights against autograd
    theta = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    total = 2 * 0.5 * torch.logsumexp(torch.log(theta / torch.tensor([2.0, 1.0], dtype=torch.float64)) / 0.5, 0)
    (expected,) = torch.autograd.grad(total, theta)
    assert weights == pytest.approx(expected.tolist(), rel=1e-6)


def test_a_resume_past_the_warm_up_without_state_uses_the_first_batch_as_nadir() -> None:
    combiner = STCHCombiner()
    weights, _ = step(combiner, [2.0, 4.0, 1.0], WARMUP_EPOCHS + 3)
    assert all(math.isfinite(w) for w in weights)
    assert weights == pytest.approx([0.5, 0.25, 1.0], rel=1e-6)  # at z: T (1/T) / L_i


def test_resume_is_exact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # warm-up epoch 1 of the toy's 4: the resume after epoch 2 carries the nadir vector's
    # sums (epoch 1's losses) into epochs 2 and 3; without them the run differs
    monkeypatch.setattr(stch, "WARMUP_EPOCHS", 1)
    assert_resume_is_exact("stch", tmp_path / "ck.pt", tasks=3)
