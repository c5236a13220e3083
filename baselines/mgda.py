"""MGDA-UB (Sener and Koltun, "Multi-Task Learning as Multi-Objective Optimization",
NeurIPS 2018).

Rule: w = argmin over the simplex of || sum_i w_i grad_z L_i ||^2, where z is the shared
representation (the heads' input): the "upper bound" variant, which needs one backward
through the heads per task instead of through the whole trunk. Solved exactly: in closed
form for two tasks, by an exact simplex solver otherwise (baselines/solvers.py); no
gradient normalisation. The model is then trained on sum_i w_i L_i (shared layers and heads).
Scale: sum_i w_i = 1, so the combined gradient is a convex combination (about half of
`equal`'s sum for two similar tasks).
Cost per step: T extra backward passes through the heads only.
Source: the authors' code, isl-org/MultiObjectiveOptimization, multi_task/train_multi_task.py (`use_approximation`:
gradients w.r.t. z, heads scaled by w as here) and multi_task/min_norm_solvers.py `MinNormSolver`.
Deviations: no gradient normalisation: `gradient_normalizers` offers l2/loss/loss+/none, train_multi_task.py reads
params['normalization_type'] with no default and their sample.json sets "loss+" (LibMTL's mgda_gn default: 'none').
Exact weights where the script runs `find_min_norm_element` (projected-gradient steps, STOP_CRIT 1e-5, MAX_ITER 250);
its two-vector solve returns 0.999/0.001 at the simplex's edge where this returns 1/0 (the other head then gets no
gradient).
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import min_norm_weights
from harness.api import StepContext


class MGDAUBCombiner(SharedGradientCombiner):
    uses_representation = True

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        weights = min_norm_weights(host_gram(grads)).float()
        return Direction(None, weights, weights)


METHOD = trusted(
    "mgda-ub",
    __file__,
    lambda config, tasks: MGDAUBCombiner(),
    "min-norm on the representation (Sener and Koltun 2018)",
    "gradient",
)
