"""No hiding a diverged run: a weight beyond the loss-level bound fails the run, and so does
a model whose parameters (or losses, or weights) stop being finite; the epochs before it
are kept and the record is `failed` with the reason."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch import nn

from harness.api.errors import SubmissionError
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.records import TrainConfig
from harness.methods.loss_level import (
    LOSS_FLOOR,
    MAX_LOSS_WEIGHT,
    InProcessLossRunner,
    LossLevelCombiner,
    check_weights,
)
from harness.oracle.guest.loader import load_submission
from harness.run.trainer import EpochSums, divergence, train
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import write_submission

CPU = torch.device("cpu")
TASK = Cifar100MultiTask()


def steps(config: TrainConfig) -> int:
    return -(-(config.train_size or 0) // config.batch_size) * config.epochs


def blow_up_at_last_step(tmp_path: Path, last: int) -> Path:
    """A loss whose d total / d fine is 3e38 at call `last`: the total stays finite."""
    return write_submission(
        tmp_path,
        "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.calls = 0\n\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        self.calls += 1\n"
        f"        boost = 3e38 if self.calls == {last} else 0.0\n"
        "        return fine_loss + coarse_loss + (fine_loss - fine_loss.detach()) * boost\n",
    )


def test_a_weight_of_3e38_at_the_last_step_fails_the_run(
    tmp_path: Path, tiny_config: TrainConfig, data_root: Path
) -> None:
    path = blow_up_at_last_step(tmp_path, steps(tiny_config))
    loaded = load_submission(path, TASK.loss_names)
    combiner = LossLevelCombiner(InProcessLossRunner(loaded.loss_class, path, tiny_config))
    outcome = train(TASK, "resnet20", 0, tiny_config, combiner, CPU, data_root)
    assert outcome.error is not None, "the run ended ok"
    assert "d total / d loss 0 is 3e+38 at epoch 1, beyond the bound 1000" in str(outcome.error)
    assert len(outcome.epochs) == 1  # the finished epoch is kept


def test_the_bound_follows_the_loss_and_admits_the_baselines_rules() -> None:
    for loss in (1e-9, 1e-6, 1e-3, 0.5, 1.0, 4.6, 30.0):
        scale_invariant = [1 / (loss + 1e-8), 1.0]
        check_weights([loss, 1.0], scale_invariant, 0)  # 1 / L: its gradient is divided by its loss
        check_weights([loss, 1.0], [0.5 / loss if loss > 1e-5 else 0.5 / LOSS_FLOOR, 2.0], 0)  # exp(-s), s = log L
    check_weights([4.6, 3.0], [MAX_LOSS_WEIGHT, -MAX_LOSS_WEIGHT], 0)
    for weights in ([MAX_LOSS_WEIGHT * 1.01, 1.0], [1.0, math.nan], [3e38, 1.0], [1.0, -math.inf]):
        with pytest.raises(SubmissionError, match="beyond the bound"):
            check_weights([4.6, 3.0], weights, 0)
    with pytest.raises(SubmissionError, match="beyond the bound 1e\\+05"):
        check_weights([0.01, 3.0], [2e5, 1.0], 0)


class BlowsUpLate(Combiner):
    """A trusted method gone wrong: the plain sum, with a gain of 3e41 at the `last` step
    (past float32's range: the gradients overflow to inf, the SGD step makes the
    parameters inf/NaN, and every loss and weight it reported is finite)."""

    def __init__(self, last: int) -> None:
        self.last = last
        self.steps = 0

    def attach(self, model: nn.Module, seed: int) -> None:
        pass

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        self.steps += 1
        gain = 1e3 if self.steps == self.last else 1.0
        weight = 3e38 if self.steps == self.last else 1.0
        torch.autograd.backward([loss * gain for loss in losses], grad_tensors=[torch.tensor(weight)] * len(losses))
        return StepResult(sum(loss.detach() for loss in losses), [weight * gain] * len(losses))


def test_parameters_driven_to_inf_fail_the_run(tiny_config: TrainConfig, data_root: Path) -> None:
    outcome = train(TASK, "resnet20", 0, tiny_config, BlowsUpLate(steps(tiny_config)), CPU, data_root)
    assert outcome.error is not None, "the run ended ok"
    assert str(outcome.error).startswith(
        "training diverged at epoch 1: the model's parameters are not finite (the method's weights drove them"
    )
    assert len(outcome.epochs) == 1 and all(math.isfinite(v) for v in outcome.epochs[0].test_metrics.values())


@pytest.mark.parametrize(
    ("losses", "weights", "parameters", "reason"),
    [
        ([1.0, math.nan], [1.0, 1.0], 3.0, "the task losses are not finite"),
        ([1.0, 2.0], [math.inf, 1.0], 3.0, "the method's task weights are not finite"),
        ([math.nan, 2.0], [1.0, 1.0], math.inf, "the model's parameters are not finite"),
    ],
)
def test_divergence_names_what_stopped_being_finite(
    losses: list[float], weights: list[float], parameters: float, reason: str
) -> None:
    sums = EpochSums(torch.tensor(losses, dtype=torch.float64), torch.tensor(weights), {}, parameters)
    error = divergence(3, sums)
    assert error is not None and str(error).startswith(f"training diverged at epoch 3: {reason}")
    finite = EpochSums(torch.ones(2, dtype=torch.float64), torch.ones(2), {}, 1e30)
    assert divergence(3, finite) is None
