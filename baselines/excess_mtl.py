"""ExcessMTL (He, Zhou, Zhao and Zhao, "Robust Multi-Task Learning with Excess Risks",
ICML 2024), robust_step_size eta = 0.01: LibMTL's ExcessMTL (LibMTL/weighting/ExcessMTL.py,
modified from the official code yifei-he/ExcessMTL, LibMTL/LibMTL/weighting/ExcessMTL.py; the
two compute the same rule) with its default `--robust_step_size 1e-2` (LibMTL/config.py).

Rule, at step t, with g_i the gradient of L_i with respect to all shared parameters:
  1. diagonal Hessian estimate, AdaGrad-style: G_i <- G_i + g_i * g_i (elementwise, G_i = 0 at
     the start), H_i = sqrt(G_i + 1e-7);
  2. excess risk estimate (the paper's second-order approximation L_i - L_i* ~ 1/2 g_i^T H_i^-1 g_i,
     without the 1/2, as the code): e_i = sum_k g_ik^2 / H_ik;
  3. the very first step only records e_i(1) (the code's `first_epoch` flag is cleared after one
     step, so it is the first step's value) and keeps the weights w = 1;
     every later step: w_i <- w_i exp(eta e_i / e_i(1)) (exponentiated gradient ascent on the
     excess risks, normalised by the first step's), then w <- T w / sum_j w_j;
  4. the model is trained on sum_i w_i L_i: the shared update is sum_i w_i g_i (from the
     gradients already computed, not a second backward), each head gets w_i times its task's
     gradient, as in the reference code's `(losses * loss_weight).sum().backward()`.
Scale: sum_i w_i = T, like `equal`'s sum.
Reported weights: w_i, the coefficient on g_i (and on head i's gradient).
Cost per step: T backward passes through the shared parameters and a (T, P) buffer G of
accumulated squared gradients (kept in checkpoints as a tensor); all on the device.
Deviations: a task whose first-step risk e_i(1) is 0 (a zero gradient) keeps its weight
(ratio 0) where the references divide by zero and every weight becomes NaN.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext, to_device

ROBUST_STEP_SIZE = 1e-2
EPS = 1e-7


def excess_risks(grads: torch.Tensor, squares: torch.Tensor | None) -> tuple[torch.Tensor, torch.Tensor]:
    """(e_i for each task, the new accumulated squared gradients G)."""
    squares = grads * grads if squares is None else squares + grads * grads
    return (grads * grads / torch.sqrt(squares + EPS)).sum(dim=1), squares


def exponentiated_step(
    weights: torch.Tensor, risks: torch.Tensor, initial: torch.Tensor, step_size: float = ROBUST_STEP_SIZE
) -> torch.Tensor:
    """w_i exp(eta e_i / e_i(1)), renormalised to sum to T. A task whose first-step risk
    e_i(1) was 0 (a zero gradient) keeps its weight: its ratio is taken as 0, where the
    references divide by 0 and turn every weight into NaN."""
    ratio = torch.where(initial > 0, risks / initial.clamp_min(torch.finfo(initial.dtype).tiny), 0.0)
    raised = weights * torch.exp(step_size * ratio)
    return raised / raised.sum() * weights.shape[0]


class ExcessMTLCombiner(SharedGradientCombiner):
    def __init__(self, tasks: int = 2) -> None:
        super().__init__()
        self.squares: torch.Tensor | None = None  # G, (T, P)
        self.initial: torch.Tensor | None = None  # e(1), (T,)
        self.weights = torch.ones(tasks)
        self.device_like = self.weights

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self.device_like = next(model.parameters())
        self.weights = to_device(self.weights, self.device_like, "setup")

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        risks, self.squares = excess_risks(grads, self.squares)
        if self.initial is None:
            self.initial = risks
        else:
            self.weights = exponentiated_step(self.weights.to(grads.dtype), risks, self.initial)
        weights = self.weights.to(grads.dtype)
        return Direction(weights @ grads, weights, weights)

    def state(self) -> object:
        return {"weights": self.weights, "initial": self.initial}

    def load_state(self, state: object) -> None:
        restored: dict = state  # type: ignore[assignment]
        self.weights = to_device(restored["weights"], self.device_like, "setup")
        initial = restored["initial"]
        self.initial = None if initial is None else to_device(initial, self.device_like, "setup")

    def tensor_state(self) -> dict[str, torch.Tensor]:
        return {} if self.squares is None else {"squares": self.squares}

    def load_tensor_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.squares = tensors.get("squares")


METHOD = trusted(
    "excess-mtl",
    __file__,
    lambda config, tasks: ExcessMTLCombiner(tasks),
    "excess-risk exponentiated weights (He et al. 2024)",
    "gradient",
)
