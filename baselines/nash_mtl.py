"""Nash-MTL (Navon et al., "Multi-Task Learning as a Bargaining Game", ICML 2022).

Source: the authors' code, AvivNavon/nash-mtl, methods/weight_methods.py, class NashMTL
(`get_weighted_loss`, `_init_optim_problem`, `solve_optimization`, `backward`), defaults
max_norm = 1.0, update_weights_every = 1, optim_niter = 20.
What their code computes, line by line: G is the (T, P) matrix of the task gradients of
the shared parameters and GTG = G G^T; `normalization_factor` = |GTG|_F, and the solver is
handed GTG / normalization_factor. But the normalisation is undone inside the problem:
each constraint is -log(alpha_i * normalization_factor) - log((GTG / normalization_factor
@ alpha)_i) <= 0, i.e. alpha_i (GTG alpha)_i >= 1 on the raw Gram matrix, and the objective
sum(GTG / nf @ alpha) + phi_lin(alpha) / nf is the paper's sum_i beta_i + linearised phi on
the raw Gram matrix divided by nf (the linearisation's gradient 1/alpha + (1/(K alpha)) K
does not depend on K's scale). Its fixed point is the bargaining solution on the raw
Gram matrix, alpha > 0 with alpha_i (G G^T alpha)_i = 1 for every i, and the returned
alpha is used as is (no rescaling): the model is trained on sum_i alpha_i L_i. So the
unclipped shared update d = sum_i alpha_i g_i has |d|^2 = alpha^T G G^T alpha = T at every
gradient scale (the maintainer in nash-mtl issue #7: "a fixed squared norm equal to the
number of tasks"), and `backward` then clips the shared parameters' gradient with
torch.nn.utils.clip_grad_norm_(shared_parameters, max_norm = 1): factor
1 / (sqrt(T) + 1e-6), an update of norm 1 at every scale. The heads' gradients are not
clipped: each head gets alpha_i times its own loss gradient (alpha_i ~ 1 / |g_i|, large for
small gradients: the weights of issue #7).
(This module used to solve on G G^T / |G G^T|_F without the factor in the constraint,
giving sqrt(|G G^T|_F) times the authors' alpha: small shared updates were left below the
clip and the heads were scaled wrongly. LibMTL's Nash_MTL.py is not followed.)
Solver (deliberate deviation): the authors run up to 20 convex-concave steps with
cvxpy/ECOS from the previous step's alpha (ones at the first step), stopping when
successive alphas differ by < 1e-6 (their other test, |GTG/nf alpha - 1/alpha| < 1e-3, is
on the normalised matrix and so rarely met); we compute the same fixed point exactly, with
no cvxpy: alpha = nash_weights(G G^T / |G G^T|_F) / sqrt(|G G^T|_F) (the bargaining
solution scales as s^(-1/2) when the Gram matrix is scaled by s; baselines/solvers.py:
closed form for two tasks, damped Newton for more). Where their 20 steps stop short (we
saw it with gradients of norm ~1e-3 and alpha ~1e3 from a cold start) or ECOS fails, their
alpha differs; ours is the solution they iterate towards. Recomputed every step.
A task whose gradient is zero gets alpha 0 (no finite solution: alpha_i -> oo while
alpha_i g_i = 0; the authors' constraint log((GTG alpha)_i) is infeasible there and their
solve keeps the previous step's alpha); the others bargain among themselves.
Scale: the shared update has norm 1 (|d| = sqrt(T) before the clip, for T >= 1 always
clipped: norm sqrt(T) / (sqrt(T) + 1e-6)); heads alpha_i times their own loss gradient.
Reported weights: alpha_i times the clipping factor (the coefficient of g_i in the update).
Cost per step: T backward passes through the shared parameters, then one weighted one.
"""

from __future__ import annotations

import math

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import nash_weights
from harness.api import StepContext, to_device

MAX_NORM = 1.0


def nash_alpha(gram: torch.Tensor) -> torch.Tensor:
    """The authors' alpha: alpha_i (gram alpha)_i = 1 on the raw Gram matrix, solved on the
    matrix over its Frobenius norm (as they hand it to the solver) and scaled back by
    |gram|_F^(-1/2) (as their constraint's normalization_factor does). A task whose gradient
    is zero has no finite alpha (alpha_i -> oo while alpha_i g_i = 0): it gets alpha 0 and the
    others bargain among themselves."""
    gram = gram.double()
    active = torch.diagonal(gram) > 0
    alpha = torch.zeros(gram.shape[0], dtype=torch.float64)
    if not bool(active.any()):
        return alpha
    sub = gram[active][:, active]
    frobenius = float(sub.norm())
    alpha[active] = nash_weights(sub / frobenius) / math.sqrt(frobenius)
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
