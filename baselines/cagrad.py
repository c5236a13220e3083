"""CAGrad (Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021), c = 0.4.

Rule, with g_0 the average of the task gradients of the shared parameters and
phi = c^2 |g_0|^2: w = argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|
(g_w = sum_i w_i g_i), then d = T (g_0 + sqrt(phi) / |g_w| * g_w) / (1 + c^2): the
authors' `cagrad` with rescale=1, and their `overwrite_grad`, which multiplies the update by
the number of tasks "to match the sum loss" (Cranial-XIX/CAGrad, nyuv2/utils.py and
cityscapes/utils.py). LibMTL's CAGrad.py leaves out the factor T (an average); we follow
the authors. Heads get their own losses' gradients unscaled (as the authors' code).
Guards as the authors' `cagrad` places them: c = alpha * sqrt(GG.mean() + 1e-8) + 1e-8
(their `g0_norm` and `c`), lmbda = c / (gw_norm + 1e-8), |g_w| here from the Gram matrix,
sqrt(w^T GG w) (this module used to leave out the + 1e-8 on c and take
sqrt(w^T GG w + 1e-8) for |g_w|: a relative difference of up to 6e-5 at gradient norms 2^-6,
growing as 1 / |g|^2). The weights' solve (baselines/solvers.py `cagrad_weights`) keeps the
authors' sqrt(w^T GG w + 1e-8) in the objective but its sqrt(phi) leaves out their + 1e-8
(a 1e-8 absolute change of the objective's coefficient: below the cross-check's tolerance).
Scale: a sum, like `equal` (sum_i coefficient_i = T when c = 0), divided by 1 + c^2.
Reported weights: the coefficient of each g_i in d.
Cost per step: T backward passes through the shared parameters and a (T, T) Gram matrix.
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import cagrad_weights
from harness.api import StepContext, to_device

C = 0.4


def cagrad_coefficients(gram: torch.Tensor, c: float = C) -> torch.Tensor:
    """The coefficients of the task gradients in CAGrad's update (times T, as the authors)."""
    gram = gram.double()
    count = gram.shape[0]
    w = cagrad_weights(gram, c)
    root_phi = c * torch.sqrt(gram.mean() + 1e-8) + 1e-8  # the authors' c
    gw_norm = torch.sqrt((w @ gram @ w).clamp_min(0.0))  # |g_w|
    lam = root_phi / (gw_norm + 1e-8)  # the authors' lmbda
    return count * (torch.full((count,), 1.0 / count, dtype=torch.float64) + lam * w) / (1 + c**2)


class CAGradCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        coefficients = cagrad_coefficients(host_gram(grads)).to(grads.dtype)
        return Direction(to_device(coefficients, grads) @ grads, None, coefficients)


METHOD = trusted(
    "cagrad",
    __file__,
    lambda config, tasks: CAGradCombiner(),
    "conflict-averse gradient, c 0.4 (Liu et al. 2021)",
    "gradient",
)
