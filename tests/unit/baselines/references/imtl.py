"""IMTL from scratch (Liu, Li, Kuang, Xue, Chen, Yang, Liao and Zhang, "Towards Impartial
Multi-task Learning", ICLR 2021): IMTL-L and IMTL-G (as LibMTL's IMTL.py, the method's
common implementation; the paper's authors released none).

IMTL-L: L_i' = exp(s_i) L_i - s_i with learnable scales s (from 0). The scales are trained
on sum_i L_i' (d/ds_i = exp(s_i) L_i - 1) by the protocol's SGD after each step, as the
project's combiner does with the test's TrainConfig defaults and step lr: lr 0.1,
momentum 0.9, weight decay 5e-4 (torch.optim.SGD's update, written out).
IMTL-G: g_i' = exp(s_i) g_i (the gradient of L_i'), u_i = g_i' / |g_i'|, and alpha with
sum_i alpha_i = 1 such that g = sum_i alpha_i g_i' has the same projection on every u_i:
g . (u_1 - u_t) = 0 for t = 2..T. Solved here as the square linear system of those T
equations directly (least squares), rather than the paper's elimination
alpha_{2:T} = g_1' U^T (D U^T)^{-1}; the shared parameters get g. A zero gradient has
u = 0 (its projection is 0, so g must be orthogonal to the other unit gradients).
"""

from __future__ import annotations

import torch

NAME = "imtl"
LR, MOMENTUM, WEIGHT_DECAY = 0.1, 0.9, 5e-4


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        self.scales = torch.zeros(tasks, dtype=torch.float64)
        self.momentum: torch.Tensor | None = None

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        values = losses.to(torch.float64)
        scaled = torch.exp(self.scales)[:, None] * grads.to(torch.float64)
        norms = scaled.norm(dim=1, keepdim=True)
        units = torch.where(norms > 0, scaled / torch.where(norms > 0, norms, 1.0), 0.0)
        system = torch.zeros(self.tasks, self.tasks, dtype=torch.float64)
        rhs = torch.zeros(self.tasks, 1, dtype=torch.float64)
        system[0] = 1.0
        rhs[0] = 1.0
        for t in range(1, self.tasks):
            system[t] = scaled @ (units[0] - units[t])
        alpha = torch.linalg.lstsq(system, rhs, driver="gelsd").solution[:, 0]
        update = alpha @ scaled
        # IMTL-L: one SGD step on the scales
        gradient = torch.exp(self.scales) * values - 1.0 + WEIGHT_DECAY * self.scales
        self.momentum = gradient.clone() if self.momentum is None else MOMENTUM * self.momentum + gradient
        self.scales = self.scales - LR * self.momentum
        return update
