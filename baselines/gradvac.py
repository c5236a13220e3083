"""GradVac (Wang, Tsvetkov, Firat and Cao, "Gradient Vaccine", ICLR 2021), beta = 0.01.

Rule, on the task gradients g_i of all shared parameters (the "whole model" granularity):
for each task i, for the other tasks j in a random order, with phi_ij the cosine between
the current g_i' and g_j and phi^_ij an exponential moving average target (starting at 0):
if phi_ij < phi^_ij, g_i' += |g_i'| (phi^_ij sqrt(1 - phi_ij^2) - phi_ij sqrt(1 - phi^_ij^2))
/ (|g_j| sqrt(1 - phi^_ij^2)) g_j, which raises the cosine to the target; then
phi^_ij = (1 - beta) phi^_ij + beta phi_ij. The shared update is sum_i g_i'.
Heads get their own losses' gradients unscaled.
Scale: a sum, like `equal` (PCGrad is the special case of a fixed target 0).
Reported weights: the coefficient of each original g_j in the update (1 + what was added).
Cost per step: T backward passes through the shared parameters.
Source: the paper's update rule (no authors' code found) and LibMTL/weighting/GradVac.py with GradVac_group_type 0
("whole_model"), which this follows otherwise.
Deviations: beta 0.01 is the paper's; LibMTL's default GradVac_beta is 0.5. Not a deviation: the target phi^_ij is
updated for every pair at every step with the cosine before the adjustment, as the paper and LibMTL since its commit
d2d84fa ("fix a bug in GradVac", 2024-02-15), which moved the EMA update out of the adjust branch (before it, LibMTL
updated the target only when phi_ij < phi^_ij).
Order: torch.randperm from the method's generator (stream_seed(seed, "gradient-method")) where LibMTL calls
random.shuffle; the cosine's and the weight's denominators are floored at 1e-20 where LibMTL adds 1e-8.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext, to_device

BETA = 0.01


def vaccinate(
    grads: torch.Tensor, targets: torch.Tensor, generator: torch.Generator, beta: float = BETA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(update, coefficient of each g_j in it, new targets). Branch-free, so no GPU sync."""
    count = grads.shape[0]
    norms = grads.norm(dim=1)
    coefficients = torch.ones(count, dtype=grads.dtype, device=grads.device)
    targets = targets.clone()
    update = torch.zeros_like(grads[0])
    for i in range(count):
        current = grads[i].clone()
        for j in torch.randperm(count, generator=generator).tolist():
            if j == i:
                continue
            cosine = torch.dot(current, grads[j]) / (current.norm() * norms[j]).clamp_min(1e-20)
            target = targets[i, j]
            weight = (
                current.norm()
                * (target * torch.sqrt(1 - cosine**2) - cosine * torch.sqrt(1 - target**2))
                / (norms[j] * torch.sqrt(1 - target**2)).clamp_min(1e-20)
            )
            weight = torch.where(cosine < target, weight, torch.zeros_like(weight))
            current = current + weight * grads[j]
            coefficients[j] = coefficients[j] + weight
            targets[i, j] = (1 - beta) * target + beta * cosine
        update = update + current
    return update, coefficients, targets


class GradVacCombiner(SharedGradientCombiner):
    def __init__(self, tasks: int = 2) -> None:
        super().__init__()
        self.targets = torch.zeros(tasks, tasks)
        self.device_like = self.targets  # a tensor on the training device, once attached

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self.device_like = next(model.parameters())
        self.targets = to_device(self.targets, self.device_like, "setup")  # no copy inside a step

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        update, coefficients, self.targets = vaccinate(grads, self.targets.to(grads.dtype), self.generator)
        return Direction(update, None, coefficients)

    def state(self) -> object:
        return {"targets": self.targets, "generator": self.generator.get_state()}

    def load_state(self, state: object) -> None:
        restored = state
        self.targets = to_device(restored["targets"], self.device_like, "setup")
        self.generator.set_state(restored["generator"])


METHOD = trusted(
    "gradvac",
    __file__,
    lambda config, tasks: GradVacCombiner(tasks),
    "gradient vaccine, beta 0.01 (Wang et al. 2021)",
    "gradient",
)
