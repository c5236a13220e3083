"""The loss-level path (values out, weights back, weighted backward) equals an
in-process `total.backward()` with the loss parameters in the model's optimizer."""

import copy

import torch
from torch import nn

from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner
from harness.oracle.guest.loader import load_submission
from tests.helpers import loss_file

CONFIG = TrainConfig(epochs=3)


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.Tanh(), nn.Linear(8, 2))


def task_losses(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> list[torch.Tensor]:
    out = model(x)
    return [((out[:, 0] - y[:, 0]) ** 2).mean(), ((out[:, 1] - y[:, 1]) ** 2).mean() * 3]


def test_weighted_backward_matches_joint_optimizer_over_steps() -> None:
    loaded = load_submission(loss_file("uncertainty"), ("fine", "coarse"))
    x, y = torch.randn(16, 4), torch.randn(16, 2)

    # reference: the seed's way, one optimizer over model and loss parameters
    model_a = tiny_model()
    loss_a = loaded.loss_class()
    opt_a = torch.optim.SGD([*model_a.parameters(), *loss_a.parameters()], lr=0.1, momentum=0.9, weight_decay=5e-4)

    # harness: detached values to the runner, weighted backward on the model
    model_b = copy.deepcopy(model_a)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    combiner = LossLevelCombiner(InProcessLossRunner(loaded.loss_class, loaded.path, CONFIG))

    for step in range(6):
        epoch = step // 2
        opt_a.zero_grad()
        total = loss_a(*task_losses(model_a, x, y), epoch, 3)
        total.backward()
        opt_a.step()

        opt_b.zero_grad()
        result = combiner.backward(task_losses(model_b, x, y), StepContext(epoch, 3, 0.1))
        opt_b.step()
        assert abs(result.total - float(total.detach())) < 1e-5

    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.allclose(pa, pb, atol=1e-6)
    assert torch.allclose(loss_a.log_vars, combiner.runner.module.log_vars, atol=1e-6)
    assert not torch.allclose(loss_a.log_vars, torch.zeros(2))  # the loss parameters did learn


def test_weights_are_the_gradients_of_the_total() -> None:
    loaded = load_submission(loss_file("uncertainty"), ("fine", "coarse"))
    run = InProcessLossRunner(loaded.loss_class, loaded.path, CONFIG)
    with torch.no_grad():
        run.module.log_vars.copy_(torch.tensor([0.5, -1.0]))
    result = run([1.0, 2.0], StepContext(0, 3, 0.0))
    assert result.weights == [float(torch.exp(torch.tensor(-0.5))), float(torch.exp(torch.tensor(1.0)))]
