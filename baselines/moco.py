"""MoCo (Fernando, Shen, Liu, Chaudhury, Murugesan and Chen, "Mitigating Gradient Bias in
Multi-objective Learning: A Provably Convergent Approach", ICLR 2023), as LibMTL runs it
(LibMTL/weighting/MoCo.py, "implemented based on the author's sharing code"):
beta = 0.5, beta_sigma = 0.5, gamma = 0.1, gamma_sigma = 0.5, rho = 0 (LibMTL's defaults,
LibMTL/config.py `--MoCo_*`).

Rule, at step t (from 1), with g_i the gradient of L_i with respect to all shared parameters:
  1. loss-scaled normalisation (LibMTL and the authors' "raw_loss" option):
     g_i' = L_i g_i / (|g_i| + 1e-8);
  2. tracking (the paper's Eq. 6): y_i <- y_i - beta_t (y_i - g_i'), beta_t = beta / t^beta_sigma,
     y starting at 0;
  3. weights (the paper's Eq. 7, a step on min_lambda 1/2 |Y^T lambda|^2 + rho/2 |lambda|^2):
     lambda <- softmax(lambda - gamma_t (Y Y^T + rho I) lambda), gamma_t = gamma / t^gamma_sigma,
     lambda starting at 1/T;
  4. the shared update is d = Y^T lambda = sum_i lambda_i y_i.
Deviations, kept here from LibMTL: the paper projects lambda onto the simplex and tracks the
raw gradients; LibMTL, followed here, maps lambda back with a softmax and normalises and
scales the gradients by their loss as in step 1. So this deviates from the paper and from
the authors' NYUv2 code in heshandevaka/MoCo (CAGrad/nyuv2/utils.py `tracking`: a Euclidean
projection onto the simplex, `projection_simplex_sort`, of the raw gradients; in the stored
copy no training branch calls it); only the authors' Cityscapes code (CAGrad/utils.py
`tracking`, with its "raw_loss" option) uses the softmax and the loss scaling, as we do.
The authors' CAGrad-based code also multiplies the update by T "to match the sum loss" (x 2
for Cityscapes, x 3 for NYUv2) and decays by epoch; LibMTL (followed here) does neither:
the decays count steps.
Heads get their own losses' gradients unscaled.
Scale: average-like. lambda sums to 1 and each tracked y_i has about the norm of L_i, so |d|
is at most a convex combination of the losses (not of the gradient norms): unlike `equal`'s
sum, it does not grow with T and is measured in loss units.
Reported weights: lambda_i L_i / (|g_i| + 1e-8), the coefficient that the update puts on g_i
once y_i has tracked g_i' (the coefficient on this step's g_i alone is beta_t times it).
Extras: `tracking_rate`, beta_t.
Cost per step: T backward passes through the shared parameters, a (T, P) buffer y (kept in
checkpoints as a tensor), a T x T product on the device (no host sync).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext, to_device

BETA, BETA_SIGMA, GAMMA, GAMMA_SIGMA, RHO = 0.5, 0.5, 0.1, 0.5, 0.0
EPS = 1e-8


def moco_update(
    grads: torch.Tensor,
    losses: torch.Tensor,
    tracked: torch.Tensor,
    weights: torch.Tensor,
    step: int,
    beta: float = BETA,
    beta_sigma: float = BETA_SIGMA,
    gamma: float = GAMMA,
    gamma_sigma: float = GAMMA_SIGMA,
    rho: float = RHO,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """(shared update d, new y, new lambda, coefficient on each g_i) at step `step` (1-based).
    Branch-free and on the gradients' device."""
    norms = grads.norm(dim=1)
    scale = losses.to(grads.dtype) / (norms + EPS)
    normalised = grads * scale[:, None]
    rate = beta / step**beta_sigma
    tracked = tracked - rate * (tracked - normalised)
    gram = tracked @ tracked.T + rho * torch.eye(grads.shape[0], dtype=grads.dtype, device=grads.device)
    weights = torch.softmax(weights - gamma / step**gamma_sigma * (gram @ weights), dim=0)
    return weights @ tracked, tracked, weights, weights * scale


class MoCoCombiner(SharedGradientCombiner):
    def __init__(self, tasks: int = 2) -> None:
        super().__init__()
        self.tasks = tasks
        self.step = 0
        self.tracked: torch.Tensor | None = None  # y, (T, P), created at the first step
        self.weights = torch.full((tasks,), 1.0 / tasks)  # lambda
        self.device_like = self.weights

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self.device_like = next(model.parameters())
        self.weights = to_device(self.weights, self.device_like, "setup")

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        self.step += 1
        values = torch.stack([loss.detach() for loss in losses])
        tracked = torch.zeros_like(grads) if self.tracked is None else self.tracked
        update, self.tracked, self.weights, coefficients = moco_update(
            grads, values, tracked, self.weights.to(grads.dtype), self.step
        )
        return Direction(update, None, coefficients, {"tracking_rate": BETA / self.step**BETA_SIGMA})

    def state(self) -> object:
        return {"step": self.step, "weights": self.weights}

    def load_state(self, state: object) -> None:
        restored: dict = state  # type: ignore[assignment]
        self.step = int(restored["step"])
        self.weights = to_device(restored["weights"], self.device_like, "setup")

    def tensor_state(self) -> dict[str, torch.Tensor]:
        return {} if self.tracked is None else {"tracked": self.tracked}

    def load_tensor_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.tracked = tensors.get("tracked")


METHOD = trusted(
    "moco",
    __file__,
    lambda config, tasks: MoCoCombiner(tasks),
    "tracked gradients, softmax-simplex weights (Fernando et al. 2023)",
    "gradient",
)
