"""Loss-level methods on the trainer's side: a *loss runner* evaluates a MultiTaskLoss on
detached loss values (in the sandboxed oracle for a submission, in-process for a trusted
baseline file) and returns the total and d total / d loss_i; the combiner then
backpropagates the real losses with those weights, which by the chain rule is the
gradient of an in-process call."""

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


def sgd_settings(config: TrainConfig) -> SGDSettings:
    return SGDSettings(config.lr, config.momentum, config.weight_decay)


class LossRunner(Protocol):
    """Evaluates a MultiTaskLoss on loss values."""

    sandbox: str

    def __call__(self, values: list[float], context: StepContext) -> StepResult: ...

    def get_state(self) -> object:
        """The loss class's state as JSON-able data (see harness.oracle.guest.codec)."""
        ...

    def set_state(self, state: object) -> None: ...

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
        weights = to_device(torch.tensor(result.weights, dtype=losses[0].dtype), losses[0])
        grads = [w if w.dtype == loss.dtype else w.to(loss.dtype) for w, loss in zip(weights.unbind(), losses)]
        torch.autograd.backward(losses, grad_tensors=grads)
        return result

    def state(self) -> object:
        return self.runner.get_state()

    def load_state(self, state: object) -> None:
        self.runner.set_state(state)

    def close(self) -> None:
        self.runner.close()

    @property
    def sandbox(self) -> str:
        return self.runner.sandbox
