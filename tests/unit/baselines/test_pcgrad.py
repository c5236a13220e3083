"""PCGrad (baselines/pcgrad.py): the projection by hand and as a combiner on the toy model."""

from __future__ import annotations

from pathlib import Path

import torch

from baselines.pcgrad import PCGradCombiner, project_conflicting
from harness.api.method import StepContext

from .asserts import TwoHeads, assert_resume_is_exact


def test_pcgrad_projects_only_conflicting_gradients() -> None:
    g1, g2 = torch.tensor([1.0, 0.0]), torch.tensor([-1.0, 1.0])
    projected, conflicts, coefficients = project_conflicting([g1, g2], torch.Generator().manual_seed(0))
    # g1 . g2 = -1: g1 - (-1/2) g2 = (0.5, 0.5); g2 - (-1/1) g1 = (0, 1)
    assert torch.allclose(projected[0], torch.tensor([0.5, 0.5]))
    assert torch.allclose(projected[1], torch.tensor([0.0, 1.0]))
    assert float(conflicts) == 2
    # the sum (0.5, 1.5) = 2 g1 + 1.5 g2: g1 was added once to g2 (k = -1), g2 half to g1 (k = -1/2)
    assert coefficients.tolist() == [2.0, 1.5]
    assert torch.allclose(coefficients @ torch.stack([g1, g2]), projected[0] + projected[1])
    h1, h2 = torch.tensor([1.0, 0.0]), torch.tensor([1.0, 1.0])
    unchanged, none, ones = project_conflicting([h1, h2], torch.Generator().manual_seed(0))
    assert torch.equal(unchanged[0], h1) and torch.equal(unchanged[1], h2) and float(none) == 0
    assert ones.tolist() == [1.0, 1.0]


def test_pcgrad_uses_a_random_order_and_the_original_gradients_with_three_tasks() -> None:
    grads = [torch.tensor([1.0, 0.0, 0.0]), torch.tensor([-1.0, 1.0, 0.0]), torch.tensor([-1.0, -1.0, 1.0])]
    projected, _, coefficients = project_conflicting(grads, torch.Generator().manual_seed(5))
    assert torch.allclose(coefficients @ torch.stack(grads), sum(projected), atol=1e-6)  # exact coefficients
    orders = torch.Generator().manual_seed(5)
    for i, result in enumerate(projected):  # the paper's Algorithm 1, step by step
        expected = grads[i].clone()
        for j in torch.randperm(3, generator=orders).tolist():
            if j != i and torch.dot(expected, grads[j]) < 0:
                expected = expected - torch.dot(expected, grads[j]) / grads[j].norm() ** 2 * grads[j]
        assert torch.allclose(result, expected, atol=1e-6)
    # task 0 conflicts with both others; whichever order, it ends orthogonal to the last one
    assert not torch.allclose(projected[0], grads[0])


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


def test_resume_is_exact(tmp_path: Path) -> None:
    # three tasks: with two the projection order, the generator's state, changes nothing
    # seed 2: a job whose draws after the restart differ from a fresh stream's (over two steps some
    # seeds draw the same orders or masks again, and a forgetful resume would pass unseen)
    assert_resume_is_exact("pcgrad", tmp_path / "ck.pt", tasks=3, seed=2)
