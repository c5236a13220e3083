"""UPGrad (Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization", 2024),
as torchjd's `UPGrad` aggregator with its defaults (src/torchjd/aggregation/_upgrad.py).

Rule, with G the (T, P) matrix of task gradients of the shared parameters: project each
scaled task gradient g_i / T onto the dual cone {x : G x >= 0} of the rows of G and sum
the projections (the paper's eq. for A_UPGrad with the default preference vector
1/T, i.e. the mean of the projected gradients):
    d = sum_i pi_G(g_i / T) = G^T w,   w = sum_i v_i,
    v_i = argmin_{v >= e_i / T} v^T (G G^T) v   (Proposition 1 of the paper),
solved exactly on the host by baselines/dual_cone.py with torchjd's conventions: the Gram
matrix divided by its trace (norm_eps 1e-4) plus 1e-4 I (reg_eps) before the solve.
Non-conflicting gradients (g_i . g_j >= 0) are left as they are: d is their mean.
Heads get their own losses' gradients unscaled (torchjd's `mtl_backward`).
Scale: average-like: without conflict d is the mean, 1/T of `equal`'s sum; with conflict
sum_i w_i > 1 (each v_i >= e_i / T, a projection only adds components).
Reported weights: w, the coefficient of each g_i in d.
Cost per step: T backward passes through the shared parameters, the (T, T) Gram matrix
(the step's one wait) and T small QPs on the host.
"""

from __future__ import annotations

import torch

from baselines import dual_cone, trusted
from baselines.dual_cone import conditioned_gram, project_rows
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from harness.api import StepContext, to_device


def upgrad_weights(gram: torch.Tensor, preference: torch.Tensor | None = None) -> torch.Tensor:
    """The coefficients w of the task gradients in UPGrad's update (float64): the sum of
    the projection weights of the rows of diag(preference), preference 1/T by default."""
    count = gram.shape[0]
    if preference is None:
        preference = torch.full((count,), 1.0 / count, dtype=torch.float64)
    return project_rows(conditioned_gram(gram), torch.diag(preference.double())).sum(dim=0)


class UPGradCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        weights = upgrad_weights(host_gram(grads)).to(grads.dtype)
        return Direction(to_device(weights, grads) @ grads, None, weights)


METHOD = trusted(
    "upgrad",
    __file__,
    lambda config, tasks: UPGradCombiner(),
    "projections of each gradient onto the dual cone, averaged (Quinton and Rey 2024)",
    "gradient",
    helpers=(dual_cone.__file__,),  # its solver is part of the method: the file joins the cache key
)
