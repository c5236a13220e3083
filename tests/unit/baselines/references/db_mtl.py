"""DB-MTL from scratch (Lin, Ye, Xu, Shi and Zhang, "Dual-Balancing Multi-Task Learning",
2023), as LibMTL's LibMTL/weighting/DB_MTL.py (the authors' code) with its defaults
DB_beta = 0.9, DB_beta_sigma = 0.

Loss-scale balancing: every task works on log(L_i + 1e-8), so its shared gradient is
g_i / (L_i + 1e-8) (chain rule: the reference gets the raw g_i and L_i). Gradient-magnitude
balancing, at step t = 1, 2, ...: the buffer (zeros before step 1)
h_i <- g~_i + beta / t^beta_sigma (h_i - g~_i), i.e. with beta_sigma = 0 a plain EMA
h_i <- 0.1 g~_i + 0.9 h_i; alpha_i = max_j |h_j| / (|h_i| + 1e-8); update sum_i alpha_i h_i.
"""

from __future__ import annotations

import torch

NAME = "db-mtl"
BETA, BETA_SIGMA = 0.9, 0.0


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.buffer = torch.zeros(0)
        self.step_count = 0

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        self.step_count += 1
        log_grads = grads.to(torch.float64) / (losses.to(torch.float64) + 1e-8)[:, None]
        if self.step_count == 1:
            self.buffer = torch.zeros_like(log_grads)
        decay = BETA / self.step_count**BETA_SIGMA
        self.buffer = log_grads + decay * (self.buffer - log_grads)
        norms = self.buffer.norm(dim=1)
        alpha = norms.max() / (norms + 1e-8)
        return alpha @ self.buffer
