"""ExcessMTL from scratch (He et al., ICML 2024; the official code's loop, LibMTL's
ExcessMTL), in float64 numpy, robust step size 0.01.

Per step: A_i += g_i^2 (elementwise), excess_i = g_i . (g_i / sqrt(A_i + 1e-7)); the first
step stores excess(1) and keeps the weights at 1; later steps multiply w_i by
exp(0.01 excess_i / excess_i(1)) and rescale w to sum to T. The shared parameters get
sum_i w_i g_i. No randomness.
"""

from __future__ import annotations

import numpy as np
import torch

NAME = "excess-mtl"


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        self.acc: np.ndarray | None = None
        self.first: np.ndarray | None = None
        self.w = np.ones(tasks)
        self.eta = 0.01

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.detach().cpu().numpy().astype(np.float64)
        if self.acc is None:
            self.acc = np.zeros_like(g)
        self.acc += g**2
        excess = np.array([g[i] @ (g[i] / np.sqrt(self.acc[i] + 1e-7)) for i in range(self.tasks)])
        if self.first is None:
            self.first = excess
        else:
            self.w = self.w * np.exp(self.eta * excess / self.first)
            self.w = self.tasks * self.w / self.w.sum()
        return torch.from_numpy(self.w @ g)
