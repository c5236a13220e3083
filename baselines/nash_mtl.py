"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022).

Rule: alpha > 0 solving G' G'^T alpha = 1 / alpha (elementwise), with G' G'^T the (T, T) Gram
matrix of the task gradients of the shared parameters divided by its Frobenius norm, as the
authors' code (AvivNavon/nash-mtl, methods/weight_methods.py, NashMTL.get_weighted_loss)
and LibMTL's Nash_MTL.py do: that makes alpha sqrt(|G G^T|_F) times the solution on the raw
gradients. The model is trained on sum_i alpha_i L_i (heads and shared layers), then the
shared parameters' gradient is clipped to total norm max_norm = 1 (the authors' default,
`clip_grad_norm_` after the backward pass; LibMTL's too).
Solver: the authors iterate a convex-concave procedure 20 times from the previous step's
alpha (cvxpy/ECOS, stopping at a residual of 1e-3); we solve the same equation exactly,
so no cvxpy: for two tasks in closed form (baselines/solvers.py), alpha_1 =
(|g_1|^2 + g_1.g_2 |g_1|/|g_2|)^(-1/2) and symmetrically for alpha_2; for more tasks a damped
Newton method on the convex alpha^T G G^T alpha / 2 - sum log alpha. Recomputed every step
(update_weights_every = 1).
Scale: the shared update has norm min(1, sqrt(T |G G^T|_F)) (unclipped, sum_i alpha_i g_i
has squared norm alpha^T G G^T alpha = T |G G^T|_F); heads get alpha_i times their own loss
gradient, unclipped, as in the authors' code.
A task whose gradient is zero gets alpha 0 (no finite solution: alpha_i -> oo while alpha_i g_i = 0;
the authors' cvxpy solve fails there and keeps the previous step's alpha).
Reported weights: alpha_i times the clipping factor (the coefficient of g_i in the update).
Cost per step: T backward passes through the shared parameters, then one weighted one.
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import nash_weights
from harness.api import StepContext, to_device

MAX_NORM = 1.0


def nash_alpha(gram: torch.Tensor) -> torch.Tensor:
    """The authors' alpha: the bargaining solution for the Gram matrix over its Frobenius norm.
    A task whose gradient is zero has no finite alpha (alpha_i -> oo while alpha_i g_i = 0; the
    authors' solver fails there): it gets alpha 0 and the others bargain among themselves."""
    gram = gram.double()
    active = torch.diagonal(gram) > 0
    alpha = torch.zeros(gram.shape[0], dtype=torch.float64)
    if not bool(active.any()):
        return alpha
    sub = gram[active][:, active]
    alpha[active] = nash_weights(sub / sub.norm())
    return alpha


class NashMTLCombiner(SharedGradientCombiner):
    max_shared_norm = MAX_NORM

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        alpha = to_device(nash_alpha(host_gram(grads)).to(grads.dtype), grads)  # one copy: weights and report
        if context.reuse_task_gradients:  # alpha . G from the gradients at hand: no second backward pass
            return Direction(alpha @ grads, alpha, alpha)
        return Direction(None, alpha, alpha)


METHOD = trusted(
    "nash-mtl",
    __file__,
    lambda config, tasks: NashMTLCombiner(),
    "bargaining solution (Navon et al. 2022)",
    "gradient",
)
