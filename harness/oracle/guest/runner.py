"""Runs a MultiTaskLoss on loss values: the oracle's core, also used in-process for the
harness's trusted baseline files. It evaluates the loss on detached values and returns the
total and d total / d loss_i; it owns the loss class's parameters and steps them with the
protocol's SGD settings."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .codec import module_state, restore_module_state
from .loader import SubmissionFault, call_forward, instantiate


@dataclass(frozen=True)
class SGDSettings:
    lr: float
    momentum: float
    weight_decay: float


class LossModuleRunner:
    """One MultiTaskLoss instance and the SGD optimizer of its own parameters."""

    def __init__(self, loss_class: type[nn.Module], path: Path, sgd: SGDSettings) -> None:
        self.path = path
        self.module = instantiate(loss_class, path)
        params = [p for p in self.module.parameters() if p.requires_grad]
        self.optimizer = (
            torch.optim.SGD(params, lr=sgd.lr, momentum=sgd.momentum, weight_decay=sgd.weight_decay) if params else None
        )

    def step(self, values: list[float], epoch: int, total_epochs: int, lr: float) -> tuple[float, list[float]]:
        """The total and d total / d loss_i at these loss values; then one SGD step."""
        leaves = [torch.tensor(v, dtype=torch.float32, requires_grad=True) for v in values]
        total = call_forward(self.module, self.path, leaves, epoch, total_epochs)
        try:
            total.backward()
        except RuntimeError as exc:
            raise SubmissionFault(f"backward through forward's output failed: {exc}") from None
        weights = [0.0 if leaf.grad is None else float(leaf.grad) for leaf in leaves]
        if not all(math.isfinite(w) for w in weights):
            raise SubmissionFault(f"d total / d loss is not finite at epoch {epoch}: {weights}")
        if self.optimizer is not None:
            for group in self.optimizer.param_groups:
                group["lr"] = lr
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        return float(total.detach()), weights

    def get_state(self) -> object:
        return module_state(self.module, self.optimizer)

    def set_state(self, state: object) -> None:
        restore_module_state(self.module, self.optimizer, state)
