"""How the trainer turns per-task losses into parameter gradients.

Two kinds:
- loss level: a `MultiTaskLoss` (submission or baseline) maps loss values to a total.
  A *loss runner* evaluates it on detached values and returns the total and
  d total / d loss_i; the trainer then backpropagates the real losses with those weights,
  which by the chain rule is the gradient of the in-process call. The runner owns the
  loss class's parameters and steps them with the protocol's SGD settings.
- gradient level: trusted baselines (PCGrad) that need per-task gradients of the shared
  parameters and write `.grad` themselves.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import torch
from torch import nn

from harness.contracts import TrainConfig
from harness.errors import SubmissionError
from harness.state_codec import module_state, restore_module_state
from harness.submission_loader import call_forward, instantiate


@dataclass(frozen=True)
class StepContext:
    epoch: int
    total_epochs: int
    lr: float


@dataclass
class StepResult:
    total: float | torch.Tensor
    weights: list[float]
    extras: dict[str, float | torch.Tensor] = field(default_factory=dict)  # summed per epoch


class LossRunner(Protocol):
    """Evaluates a MultiTaskLoss on loss values; in-process here, sandboxed in the oracle."""

    sandbox: str

    def __call__(self, values: list[float], context: StepContext) -> StepResult: ...

    def get_state(self) -> object:
        """The loss class's state as JSON-able data (see harness.state_codec)."""
        ...

    def set_state(self, state: object) -> None: ...

    def close(self) -> None: ...


class InProcessLossRunner:
    """Runs a trusted (or, before the oracle exists, any) MultiTaskLoss in this process."""

    sandbox = "in-process"

    def __init__(self, loss_class: type[nn.Module], path: Path, config: TrainConfig) -> None:
        self.path = path
        self.module = instantiate(loss_class, path)
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = (
            torch.optim.SGD(
                params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
            )
            if params
            else None
        )

    def __call__(self, values: list[float], context: StepContext) -> StepResult:
        leaves = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in values]
        total = call_forward(self.module, self.path, leaves, context.epoch, context.total_epochs)
        try:
            total.backward()
        except RuntimeError as exc:
            raise SubmissionError(f"backward through forward's output failed: {exc}") from None
        weights = [0.0 if leaf.grad is None else float(leaf.grad) for leaf in leaves]
        if not all(math.isfinite(w) for w in weights):
            raise SubmissionError(
                f"d total / d loss is not finite at epoch {context.epoch}: {weights}"
            )
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = context.lr
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return StepResult(float(total.detach()), weights)

    def get_state(self) -> object:
        return module_state(self.module, self.optimizer)

    def set_state(self, state: object) -> None:
        restore_module_state(self.module, self.optimizer, state)

    def close(self) -> None:
        pass


class Combiner(ABC):
    @abstractmethod
    def attach(self, model: nn.Module, seed: int) -> None:
        """Called once with the model before training starts."""

    @abstractmethod
    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        """Fill `.grad` of the model's parameters for this step."""

    def state(self) -> object:
        """JSON-able state for a checkpoint; None if there is none."""
        return None

    def load_state(self, state: object) -> None:
        pass

    def tensor_state(self) -> dict[str, torch.Tensor]:
        """Large tensors of a trusted combiner (gradient buffers), checkpointed as tensors."""
        return {}

    def load_tensor_state(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    wants_losses_after_step = False  # FAMO: the trainer recomputes the batch's losses after the step

    def after_step(self, losses: list[torch.Tensor]) -> None:
        """Called after the optimizer step with the same batch's new losses (no graph)."""

    def close(self) -> None:
        pass

    @property
    def sandbox(self) -> str:
        return "in-process"


class LossLevelCombiner(Combiner):
    def __init__(self, runner: LossRunner) -> None:
        self.runner = runner

    def attach(self, model: nn.Module, seed: int) -> None:
        pass

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        values = torch.stack([loss.detach().float() for loss in losses]).cpu().tolist()
        result = self.runner(values, context)
        grad_tensors = [
            torch.tensor(w, dtype=loss.dtype, device=loss.device)
            for w, loss in zip(result.weights, losses)
        ]
        torch.autograd.backward(losses, grad_tensors=grad_tensors)
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
