"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022).

Rule: alpha > 0 solving G G^T alpha = 1 / alpha (elementwise), G the (T, P) matrix of
task gradients of the shared parameters; the model is trained on sum_i alpha_i L_i
(shared layers and heads, as the official code's weighted loss). For two tasks the
solution has a closed form (baselines/solvers.py), so no cvxpy: alpha_1 =
(|g_1|^2 + g_1.g_2 |g_1|/|g_2|)^(-1/2) and symmetrically for alpha_2; for more tasks a
damped Newton method on the convex alpha^T G G^T alpha / 2 - sum log alpha finds the same
point. Weights are recomputed every step (the paper's update_weights_every = 1).
Scale: unnormalised; alpha_i ~ 1 / |g_i|, so every task's projection of the update has
unit length (the bargaining solution's scale).
Cost per step: T backward passes through the shared parameters, then one weighted one.
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import nash_weights
from harness.api import StepContext, to_device


class NashMTLCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        alpha = nash_weights(host_gram(grads)).float()
        if context.reuse_task_gradients:  # alpha . G from the gradients at hand: no second backward pass
            on_device = to_device(alpha.to(grads.dtype), grads)
            return Direction(on_device @ grads, on_device, alpha)
        return Direction(None, alpha, alpha)


METHOD = trusted(
    "nash-mtl",
    __file__,
    lambda config, tasks: NashMTLCombiner(),
    "bargaining solution (Navon et al. 2022)",
    "gradient",
)
