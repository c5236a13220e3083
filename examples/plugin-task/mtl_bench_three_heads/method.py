"""`inverse-loss`: weight each task by the inverse of its (smoothed) loss, for any number of tasks.

Rule: m_i is an exponential moving average (factor 0.9) of the detached loss L_i; each step
trains on sum_i w_i L_i with w_i = (1 / m_i) / mean_j (1 / m_j), so the weights average 1
and a task whose loss is small gets a large weight (every task's weighted loss is about the
same). A trusted `Combiner`: it runs in the training process and writes the gradients
itself; its moving averages are its checkpointed state.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from harness.api import Combiner, MethodInfo, StepContext, StepResult, to_device, to_host

SMOOTHING = 0.9


def inverse_weights(averages: torch.Tensor) -> torch.Tensor:
    inverse = 1.0 / averages.clamp_min(1e-8)
    return inverse / inverse.mean()


class InverseLossCombiner(Combiner):
    def __init__(self, tasks: int) -> None:
        self.tasks = tasks
        self.averages: torch.Tensor | None = None

    def attach(self, model: nn.Module, seed: int) -> None:
        """Nothing to keep: the weights depend only on the losses."""

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        # one wait on the device per step (to_host), and one asynchronous copy back (to_device)
        current = to_host(torch.stack([loss.detach().float() for loss in losses]), "step")
        if self.averages is None:
            self.averages = current
        else:
            self.averages = SMOOTHING * self.averages + (1 - SMOOTHING) * current
        weights = inverse_weights(self.averages)
        on_device = to_device(weights, losses[0])
        torch.autograd.backward(losses, grad_tensors=[w.to(loss.dtype) for w, loss in zip(on_device.unbind(), losses)])
        return StepResult(float((weights * current).sum()), weights)

    def state(self) -> object:
        return None if self.averages is None else self.averages.tolist()

    def load_state(self, state: object) -> None:
        self.averages = None if state is None else torch.tensor(state, dtype=torch.float32)


METHOD = MethodInfo(
    name="inverse-loss",
    description="w_i proportional to 1 / EMA(L_i), mean weight 1 (example plugin)",
    level="loss",
    combiner=lambda config, tasks: InverseLossCombiner(tasks),
    source_files=(Path(__file__).resolve(),),
)
