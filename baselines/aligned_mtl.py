"""Aligned-MTL (Senushkin, Patakin, Kuznetsov and Konushin, "Independent Component
Alignment for Multi-Task Learning", CVPR 2023).

Rule: with the Gram matrix G G^T = V diag(lambda) V^T of the task gradients of the shared
parameters (numerical rank r kept), the balance matrix
B = sqrt(lambda_min) V diag(lambda)^(-1/2) V^T makes the aligned gradients B G orthogonal
with equal norms (the smallest singular value); the shared update is sum_i alpha_i g_i with
alpha = B^T 1 (pre-defined task weights 1). Heads get their own losses' gradients unscaled.
Scale: for orthogonal gradients of equal norm B = I, so alpha = 1: a sum, like `equal`.
Cost per step: T backward passes through the shared parameters and a (T, T) eigensolve.
Source: the authors' code, SamsungLabs/MTL, code/optim/aligned/solver.py `ProcrustesSolver` (scale_mode 'min') and
code/optim/aligned/balancer.py (`amtl`, heads unscaled: scale_decoder_grad False); LibMTL/weighting/Aligned_MTL.py
computes the same (sqrt of the smallest kept eigenvalue, alpha = column sums of B).
Rank cut-off as both references: lambda > max(lambda) * T * torch.finfo().eps (float32's 1.19e-7, their
default dtype), so near-degenerate directions are dropped as there.
Deviations: the eigensolve is in float64 (the references: float32); if no eigenvalue passes (all gradients
0), alpha = 1 (the references would fail).
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from baselines.solvers import aligned_weights
from harness.api import StepContext, to_device


class AlignedMTLCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        alpha = aligned_weights(host_gram(grads)).to(grads.dtype)
        return Direction(to_device(alpha, grads) @ grads, None, alpha)


METHOD = trusted(
    "aligned-mtl",
    __file__,
    lambda config, tasks: AlignedMTLCombiner(),
    "aligned gradients (Senushkin et al. 2023)",
    "gradient",
)
