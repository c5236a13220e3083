"""Each baseline against values computed by hand."""
import math

import pytest
import torch
from torch import nn

from tests.helpers import loss_file
from baselines.pcgrad import PCGradCombiner, project_conflicting
from harness.api.method import StepContext
from harness.methods.loss_level import InProcessLossRunner
from harness.api.records import TrainConfig
from harness.oracle.guest.loader import load_submission

CONFIG = TrainConfig(epochs=10)


def runner(name: str) -> InProcessLossRunner:
    loaded = load_submission(loss_file(name), ("fine", "coarse"))
    return InProcessLossRunner(loaded.loss_class, loaded.path, CONFIG)


def test_equal_weighting_sums() -> None:
    result = runner("equal")([2.5, 1.5], StepContext(0, 10, 0.1))
    assert result.total == pytest.approx(4.0)
    assert result.weights == [1.0, 1.0]


def test_uncertainty_weighting_values_gradients_and_update() -> None:
    run = runner("uncertainty")
    first = run([2.0, 0.5], StepContext(0, 10, 0.1))
    # s = (0, 0): total = L1 + L2, weights exp(-s) = 1
    assert first.total == pytest.approx(2.5)
    assert first.weights == pytest.approx([1.0, 1.0])
    # d total / d s_i = 1 - exp(-s_i) L_i = (-1, 0.5); SGD(lr 0.1, momentum, wd 5e-4) step from 0
    s = run.module.log_vars.detach()
    assert s.tolist() == pytest.approx([0.1, -0.05], abs=1e-6)
    second = run([2.0, 0.5], StepContext(0, 10, 0.1))
    assert second.weights == pytest.approx([math.exp(-0.1), math.exp(0.05)], rel=1e-5)
    assert second.total == pytest.approx(math.exp(-0.1) * 2 + 0.1 + math.exp(0.05) * 0.5 - 0.05, rel=1e-5)


def test_dwa_equal_for_two_epochs_then_softmax_of_loss_ratios() -> None:
    run = runner("dwa")
    for value in ([3.0, 1.0], [1.0, 3.0]):  # epoch 0: means (2, 2)
        assert run(value, StepContext(0, 10, 0.1)).weights == [1.0, 1.0]
    for value in ([1.0, 1.5], [1.0, 0.5]):  # epoch 1: means (1, 1)
        assert run(value, StepContext(1, 10, 0.1)).weights == [1.0, 1.0]
    # epoch 2: ratios (1/2, 1/2) -> equal; epoch 3 after epoch-2 means (0.5, 1.0)
    assert run([0.5, 1.0], StepContext(2, 10, 0.1)).weights == pytest.approx([1.0, 1.0])
    weights = run([0.5, 1.0], StepContext(3, 10, 0.1)).weights
    r1, r2 = 0.5 / 1.0, 1.0 / 1.0
    e1, e2 = math.exp(r1 / 2), math.exp(r2 / 2)
    assert weights == pytest.approx([2 * e1 / (e1 + e2), 2 * e2 / (e1 + e2)], rel=1e-6)


def test_pcgrad_projects_only_conflicting_gradients() -> None:
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    projected, conflicts = project_conflicting([g1, g2], torch.Generator().manual_seed(0))
    # g1 . g2 = -1: g1 - (-1/2) g2 = (0.5, 0.5); g2 - (-1/1) g1 = (0, 1)
    assert torch.allclose(projected[0], torch.tensor([0.5, 0.5]))
    assert torch.allclose(projected[1], torch.tensor([0.0, 1.0]))
    assert float(conflicts) == 2
    h1, h2 = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    unchanged, none = project_conflicting([h1, h2], torch.Generator().manual_seed(0))
    assert torch.equal(unchanged[0], h1) and torch.equal(unchanged[1], h2) and float(none) == 0


def test_pcgrad_uses_a_random_order_and_the_original_gradients_with_three_tasks() -> None:
    grads = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 1.0, 0.0]), torch.tensor([-1.0, -1.0, 1.0])]
    projected, _ = project_conflicting(grads, torch.Generator().manual_seed(5))
    orders = torch.Generator().manual_seed(5)
    for i, result in enumerate(projected):  # the paper's Algorithm 1, step by step
        expected = grads[i].clone()
        for j in torch.randperm(3, generator=orders).tolist():
            if j != i and torch.dot(expected, grads[j]) < 0:
                expected = expected - torch.dot(expected, grads[j]) / grads[j].norm() ** 2 * grads[j]
        assert torch.allclose(result, expected, atol=1e-6)
    # task 0 conflicts with both others; whichever order, it ends orthogonal to the last one
    assert not torch.allclose(projected[0], grads[0])


class TwoHeads(nn.Module):
    """z = W x with W = I (shared), losses a . z and b . z (the heads, weights a and b)."""

    def __init__(self, second_head: tuple[float, float] = (-1.0, 1.0)) -> None:
        super().__init__()
        self.trunk = nn.Linear(2, 2, bias=False)
        self.heads = nn.ModuleList([nn.Linear(2, 1, bias=False), nn.Linear(2, 1, bias=False)])
        with torch.no_grad():
            self.trunk.weight.copy_(torch.eye(2))
            self.heads[0].weight.copy_(torch.tensor([[1.0, 0.0]]))
            self.heads[1].weight.copy_(torch.tensor([second_head]))

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        z = self.trunk(x)
        return self.heads[0](z).sum(), self.heads[1](z).sum()


def test_pcgrad_combiner_writes_projected_shared_and_own_head_gradients() -> None:
    model = TwoHeads()
    combiner = PCGradCombiner()
    combiner.attach(model, seed=0)
    x = torch.tensor([[1.0, 2.0]])
    losses = list(model(x))
    combiner.backward(losses, StepContext(0, 1, 0.1))
    # d L1 / d W = h1^T x = [[1, 2], [0, 0]]; d L2 / d W = h2^T x = [[-1, -2], [1, 2]]
    g1 = torch.tensor([1.0, 2.0, 0.0, 0.0])
    g2 = torch.tensor([-1.0, -2.0, 1.0, 2.0])
    expected = sum(project_conflicting([g1, g2], torch.Generator().manual_seed(0))[0])
    assert torch.allclose(model.trunk.weight.grad.reshape(-1), expected)
    # each head sees only its own task's gradient: d L_i / d h_i = W x = (1, 2)
    assert torch.allclose(model.heads[0].weight.grad, torch.tensor([[1.0, 2.0]]))
    assert torch.allclose(model.heads[1].weight.grad, torch.tensor([[1.0, 2.0]]))
