"""Loss-level methods on the trainer's side: a *loss runner* evaluates a MultiTaskLoss on
detached loss values (in the sandboxed oracle for a submission, in-process for a trusted
baseline file) and returns the total and d total / d loss_i; the combiner then
backpropagates the real losses with those weights, which by the chain rule is the
gradient of an in-process call.

Every answer is bounded before it touches a gradient (`check_weights`), a trusted file's
as a submission's: |d total / d L_i| <= MAX_LOSS_WEIGHT / min(1, max(|L_i|, LOSS_FLOOR)).
A weight is a gain on its task's gradient, so beyond a bound it is a change of the
protocol's learning rate (3e38 is finite in float32, passes every other check and sends
the parameters to inf). Legitimate weights grow as a loss shrinks: scale-invariant
log losses give 1 / L_i, uncertainty weighting exp(-s_i) with s_i drawn to log L_i,
the geometric mean total / (T L_i); their w_i L_i is about 1 (the geometric mean's:
total / T), so MAX_LOSS_WEIGHT = 1000 leaves them a margin of about 1000, ten times the
gradient level's gain bound of 100. Below LOSS_FLOOR the bound stops growing (1e8): a
loss that rounds to 0 in float32 may still have a gradient.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from harness.api.errors import SubmissionError
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.records import TrainConfig
from harness.api.transfer import to_device, to_host
from harness.oracle.guest.loader import SubmissionFault
from harness.oracle.guest.runner import LossModuleRunner, SGDSettings


@contextmanager
def submission_errors() -> Iterator[None]:
    """The guest package's SubmissionFault as the harness's SubmissionError."""
    try:
        yield
    except SubmissionFault as exc:
        raise SubmissionError(str(exc), exc.details) from None


MAX_LOSS_WEIGHT = 1e3
LOSS_FLOOR = 1e-5


def sgd_settings(config: TrainConfig) -> SGDSettings:
    return SGDSettings(config.lr, config.momentum, config.weight_decay)


def weight_bound(value: float) -> float:
    """The largest |d total / d L_i| allowed where the loss L_i has this value."""
    return MAX_LOSS_WEIGHT / min(1.0, max(abs(value), LOSS_FLOOR))


def check_weights(values: list[float], weights: list[float] | torch.Tensor, epoch: int) -> None:
    """A SubmissionError unless every weight is within `weight_bound` of its loss (NaN fails).
    A loss runner's weights are host floats already: no wait on the device."""
    for index, (value, weight) in enumerate(zip(values, [float(w) for w in weights])):
        bound = weight_bound(value)
        if not abs(weight) <= bound:
            raise SubmissionError(
                f"d total / d loss {index} is {weight:.4g} at epoch {epoch}, beyond the bound {bound:.4g} "
                f"({MAX_LOSS_WEIGHT:g} / min(1, loss {value:.4g})): a weight that large changes the learning rate"
            )


class LossRunner(Protocol):
    """Evaluates a MultiTaskLoss on loss values."""

    sandbox: str

    def __call__(self, values: list[float], context: StepContext) -> StepResult: ...

    def get_state(self) -> object:
        """The loss class's state as JSON-able data (see harness.oracle.guest.codec)."""
        ...

    def set_state(self, state: object) -> None: ...

    def check_budget(self, when: str) -> None:
        """SubmissionError if the runner spent more than its job's budget (what ran between
        calls included)."""
        ...

    def close(self) -> None: ...


class InProcessLossRunner:
    """Runs a trusted MultiTaskLoss (a baseline file) in this process."""

    sandbox = "in-process"

    def __init__(self, loss_class: type[nn.Module], path: Path, config: TrainConfig) -> None:
        with submission_errors():
            self.runner = LossModuleRunner(loss_class, path, sgd_settings(config))

    @property
    def module(self) -> nn.Module:
        """The loss instance (tests read its parameters)."""
        return self.runner.module

    def __call__(self, values: list[float], context: StepContext) -> StepResult:
        with submission_errors():
            total, weights = self.runner.step(values, context.epoch, context.total_epochs, context.lr)
        return StepResult(total, weights)

    def get_state(self) -> object:
        return self.runner.get_state()

    def set_state(self, state: object) -> None:
        self.runner.set_state(state)

    def check_budget(self, when: str) -> None:
        pass  # trusted code in this process: no budget

    def close(self) -> None:
        pass


class LossLevelCombiner(Combiner):
    def __init__(self, runner: LossRunner) -> None:
        self.runner = runner

    def attach(self, model: nn.Module, seed: int) -> None:
        pass

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        """The step's one wait on the device: the loss values go to the runner; the
        weights come back in one asynchronous copy."""
        values = to_host(torch.stack([loss.detach().float() for loss in losses]), "step").tolist()
        result = self.runner(values, context)
        check_weights(values, result.weights, context.epoch)
        weights = to_device(torch.tensor(result.weights, dtype=losses[0].dtype), losses[0])
        grads = [w if w.dtype == loss.dtype else w.to(loss.dtype) for w, loss in zip(weights.unbind(), losses)]
        torch.autograd.backward(losses, grad_tensors=grads)
        return result

    def state(self) -> object:
        return self.runner.get_state()

    def check_limits(self, epoch: int) -> None:
        self.runner.check_budget(f"epoch {epoch}, between calls")

    def load_state(self, state: object) -> None:
        self.runner.set_state(state)

    def close(self) -> None:
        self.runner.close()

    @property
    def sandbox(self) -> str:
        return self.runner.sandbox
