"""CAGrad from scratch (Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for
Multi-task Learning", NeurIPS 2021), as the authors' code (Cranial-XIX/CAGrad,
nyuv2/utils.py: cagrad() and overwrite_grad()) with c = 0.4, rescale = 1.

With GG the Gram matrix of the task gradients, g_0 = mean_i g_i,
sqrt_phi = c * sqrt(mean(GG) + 1e-8) + 1e-8 (the authors' `c` variable), the weights
w = argmin over the simplex of w^T GG 1/T + sqrt_phi * sqrt(w^T GG w + 1e-8) (the authors
call scipy's SLSQP; here a brute-force convex search, _simplex.py), g_w = sum_i w_i g_i,
lambda = sqrt_phi / (|g_w| + 1e-8), d = (g_0 + lambda g_w) / (1 + c^2) (rescale 1), and the
shared parameters get T * d ("newgrad * num_tasks, to match the sum loss").
"""

from __future__ import annotations

import torch

from ._simplex import simplex_argmin

NAME = "cagrad"
C = 0.4


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        gram = g @ g.T
        root_phi = C * float(torch.sqrt(gram.mean() + 1e-8)) + 1e-8
        mean_row = gram.mean(dim=1)

        def objective(w: torch.Tensor) -> torch.Tensor:
            quadratic = ((w @ gram) * w).sum(-1)
            return w @ mean_row + root_phi * torch.sqrt(quadratic.clamp_min(0.0) + 1e-8)

        w = simplex_argmin(objective, self.tasks)
        gw = w @ g
        lam = root_phi / (float(gw.norm()) + 1e-8)
        d = (g.mean(0) + lam * gw) / (1 + C**2)
        return self.tasks * d
