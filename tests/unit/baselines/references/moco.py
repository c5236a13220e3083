"""MoCo from scratch (Fernando et al., ICLR 2023, Eqs. 6-7, in LibMTL's form: gradients
rescaled to L_i g_i / (|g_i| + 1e-8), lambda mapped back with a softmax), in float64 numpy.

Defaults: beta = 0.5, beta_sigma = 0.5, gamma = 0.1, gamma_sigma = 0.5, rho = 0. State: the
step count t, the tracked gradients Y (T, P) and lambda (T,). No randomness.
"""

from __future__ import annotations

import numpy as np
import torch

NAME = "moco"


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        self.t = 0
        self.y: np.ndarray | None = None
        self.lam = np.ones(tasks) / tasks
        self.beta, self.beta_sigma, self.gamma, self.gamma_sigma, self.rho = 0.5, 0.5, 0.1, 0.5, 0.0

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.detach().cpu().numpy().astype(np.float64)
        loss = losses.detach().cpu().numpy().astype(np.float64)
        self.t += 1
        if self.y is None:
            self.y = np.zeros_like(g)
        target = np.stack([loss[i] * g[i] / (np.linalg.norm(g[i]) + 1e-8) for i in range(self.tasks)])
        self.y = self.y + self.beta / self.t**self.beta_sigma * (target - self.y)
        hessian = self.y @ self.y.T + self.rho * np.eye(self.tasks)
        logits = self.lam - self.gamma / self.t**self.gamma_sigma * hessian @ self.lam
        exp = np.exp(logits - logits.max())
        self.lam = exp / exp.sum()
        return torch.from_numpy(self.y.T @ self.lam)
