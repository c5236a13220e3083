"""FairGrad (Ban and Ji, "Fair Resource Allocation in Multi-Task Learning", ICML 2024),
alpha = 2.0, as the authors run it: OptMN-Lab/fairgrad, methods/weight_methods.py, class
`FairGrad`, whose alpha defaults to 1.0 (so do experiments/utils.py's `--alpha` and
LibMTL's `--FairGrad_alpha`), but the README's way to run every supervised experiment is
`sh run.sh`, and all four experiments' run.sh (celeba, cityscapes, nyuv2,
quantum_chemistry) set alpha=2.0 and pass --alpha=$alpha, as mtrl_files/run.sh passes
fairgrad_alpha=2.0 (its yaml default: 1.0). alpha was 1.0 here before (the code default);
2.0 is what the authors' experiments used.

Rule, with G the (T, P) matrix of task gradients of the shared parameters: the weights
w > 0 solving the paper's alpha-fair optimality condition
    G G^T w = w^(-1/alpha)   (elementwise power),
and the shared update d = T * G^T w: the authors' `overwrite_grad` multiplies G^T w by
the number of tasks ("to match the sum loss"). Heads get their own losses' gradients
unscaled (the authors back-propagate every loss, then overwrite only the shared
gradients). With alpha = 1 the condition would be Nash-MTL's, G G^T w = 1 / w.
Solve: the authors run scipy's least_squares from w = 1/T; here w is the minimiser of
the strictly convex w^T A w / 2 - sum_i h(w_i) with h' (w) = w^(-1/alpha) (log for
alpha = 1), found to float64 precision by damped Newton on A = G G^T divided by its mean
diagonal (the solution then scales by that factor^(-alpha / (1 + alpha))). Where no
solution exists (some positive combination of the gradients is zero, e.g. g_2 = -g_1) the
Newton iterations diverge and the solve is redone with a 1e-8 ridge on the normalised
diagonal (large but finite weights on a near-zero update).
Then, as the authors' `FairGrad.backward`, the shared parameters' gradient is clipped to
total norm max_norm = 1.0 (their default, torch's `clip_grad_norm_`: factor
min(1, 1 / (|d| + 1e-6))); the heads' gradients are not clipped.
Not kept: LibMTL's variant, which trains sum_i w_i L_i (no factor T, no clipping, heads
scaled by w_i).
Scale: before the clip, sum-like: the update's inner product with each task gradient is
g_i . d = T w_i^(-1/alpha) (the fairness condition), e.g. for orthogonal gradients
w_i = |g_i|^(-2 alpha / (1 + alpha)) and g_i . d = T |g_i|^(2 / (1 + alpha)) (alpha 2:
T |g_i|^(2/3)); after it, |d| <= 1.
Reported weights: T w_i times the clipping factor, the coefficient of each g_i in the
shared update.
Cost per step: T backward passes through the shared parameters, the (T, T) Gram matrix
(the step's one wait) and a few T x T Newton steps on the host.
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from harness.api import StepContext, to_device

ALPHA = 2.0  # the authors' run.sh files (their code's default is 1.0)
MAX_NORM = 1.0  # the authors' clip of the shared gradient's total norm
RIDGE = 1e-8  # relative to the mean diagonal, only where the equation has no solution


def fairgrad_weights(gram: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """The w > 0 with gram w = w^(-1/alpha) (float64), without the factor T."""
    gram = gram.double()
    count = gram.shape[0]
    factor = float(torch.diagonal(gram).mean())
    if not factor > 0:  # every gradient is zero: any w gives the same (zero) update
        return torch.ones(count, dtype=torch.float64)
    a = gram / factor
    w, converged = _newton(a, alpha)
    if not converged:  # no solution (gradients with a positive combination at zero): a ridge makes one
        w, _ = _newton(a + RIDGE * torch.eye(count, dtype=torch.float64), alpha)
    return w * factor ** (-alpha / (1 + alpha))


def _newton(a: torch.Tensor, alpha: float, iterations: int = 100) -> tuple[torch.Tensor, bool]:
    """Damped Newton on w^T a w / 2 - sum_i h(w_i), h' (w) = w^(-1/alpha), from the solution
    for orthogonal gradients; the point reached and whether it solves a w = w^(-1/alpha)."""
    power = -1.0 / alpha

    def objective(w: torch.Tensor) -> float:
        barrier = torch.log(w).sum() if alpha == 1.0 else (w ** (1 + power)).sum() / (1 + power)
        return float(0.5 * w @ a @ w - barrier)

    def residual(w: torch.Tensor) -> float:
        return float((a @ w - w**power).abs().max() / (w**power).abs().max())

    w = torch.diagonal(a).clamp_min(1e-12) ** (-alpha / (1 + alpha))
    value = objective(w)
    for _ in range(iterations):
        gradient = a @ w - w**power
        if residual(w) <= 1e-14:
            break
        try:
            step = torch.linalg.solve(a + torch.diag(-power * w ** (power - 1)), gradient)
        except torch.linalg.LinAlgError:
            return w, False
        scale = 1.0
        while True:
            candidate = w - scale * step
            if bool((candidate > 0).all()):
                candidate_value = objective(candidate)
                if candidate_value <= value + 1e-4 * scale * float(gradient @ -step):
                    break
                # near the solution the objective's changes drown in rounding: a full step
                # that halves the residual is taken
                if scale == 1.0 and residual(candidate) < 0.5 * residual(w):
                    break
            scale /= 2
            if scale < 1e-12:
                return w, residual(w) <= 1e-9
        w, value = candidate, candidate_value
    return w, residual(w) <= 1e-9


def fairgrad_coefficients(gram: torch.Tensor, alpha: float = ALPHA) -> torch.Tensor:
    """The coefficients of the task gradients in FairGrad's shared update: T w."""
    return gram.shape[0] * fairgrad_weights(gram, alpha)


class FairGradCombiner(SharedGradientCombiner):
    max_shared_norm = MAX_NORM

    def __init__(self, alpha: float = ALPHA) -> None:
        super().__init__()
        self.alpha = alpha

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        coefficients = to_device(fairgrad_coefficients(host_gram(grads), self.alpha).to(grads.dtype), grads)
        # reported from the device: the base class scales them by the clip factor there
        return Direction(coefficients @ grads, None, coefficients)


METHOD = trusted(
    "fairgrad",
    __file__,
    lambda config, tasks: FairGradCombiner(),
    "alpha-fair resource allocation, alpha 2 (Ban and Ji 2024)",
    "gradient",
)
