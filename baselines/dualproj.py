"""DualProj (Quinton and Rey, "Jacobian Descent for Multi-Objective Optimization", 2024),
as torchjd's `DualProj` aggregator with its defaults (src/torchjd/aggregation/_dualproj.py):
the mean gradient projected onto the dual cone of the task gradients, the solution of
eq. 11 of GEM (Lopez-Paz and Ranzato, 2017) for the mean.

Rule, with G the (T, P) matrix of task gradients of the shared parameters:
    d = pi_G(G^T u) = G^T w,   w = argmin_{v >= u} v^T (G G^T) v,   u = 1/T (the mean),
the projection onto {x : G x >= 0} (Proposition 1 of the paper), solved exactly on the
host by baselines/dual_cone.py with torchjd's conventions: the Gram matrix divided by its
trace (norm_eps 1e-4) plus 1e-4 I (reg_eps) before the solve. When the mean already
decreases every loss to first order (g_i . mean >= 0 for all i), d is the mean.
Heads get their own losses' gradients unscaled (torchjd's `mtl_backward`).
Scale: average-like: d is the mean (1/T of `equal`'s sum) or its projection, w >= 1/T.
Reported weights: w, the coefficient of each g_i in d.
Cost per step: T backward passes through the shared parameters, the (T, T) Gram matrix
(the step's one wait) and one small QP on the host.
"""

from __future__ import annotations

import torch

from baselines import dual_cone, trusted
from baselines.dual_cone import conditioned_gram, project_weights
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from harness.api import StepContext, to_device


def dualproj_weights(gram: torch.Tensor, preference: torch.Tensor | None = None) -> torch.Tensor:
    """The coefficients w of the task gradients in DualProj's update (float64): the
    projection weights of `preference` (1/T by default, the mean gradient)."""
    count = gram.shape[0]
    if preference is None:
        preference = torch.full((count,), 1.0 / count, dtype=torch.float64)
    return project_weights(conditioned_gram(gram), preference.double())


class DualProjCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        weights = dualproj_weights(host_gram(grads)).to(grads.dtype)
        return Direction(to_device(weights, grads) @ grads, None, weights)


METHOD = trusted(
    "dualproj",
    __file__,
    lambda config, tasks: DualProjCombiner(),
    "the mean gradient projected onto the dual cone (Quinton and Rey 2024)",
    "gradient",
    helpers=(dual_cone.__file__,),  # its solver is part of the method: the file joins the cache key
)
