"""FairGrad from scratch (Ban and Ji, ICML 2024, "Fair Resource Allocation in Multi-Task
Learning"; the authors' code OptMN-Lab/fairgrad, methods/weight_methods.py, max_norm 1.0,
and alpha 2.0 as all four experiments' run.sh pass it; their code's default is 1.0), for
the cross-check.

Per step, with G the (T, P) gradients and A = G G^T: w > 0 solving A w = w^(-1/alpha)
(elementwise); the shared update d = T * w @ G (the authors' overwrite_grad multiplies by
the number of tasks), then clipped as torch's clip_grad_norm_(max_norm = 1) does:
d * min(1, 1 / (|d| + 1e-6)). The equation is solved by Newton's method on the residual in
log coordinates, s = log w, F(s) = A e^s - e^(-s / alpha), with backtracking on |F| --
another algorithm than the method's (Newton on the convex potential in w); no ridge.
Stateless.
"""

from __future__ import annotations

import numpy as np
import torch

NAME = "fairgrad"
ALPHA = 2.0
MAX_NORM = 1.0


def fair_weights(gram: np.ndarray, alpha: float = ALPHA, iterations: int = 500) -> np.ndarray:
    count = gram.shape[0]
    s = np.zeros(count) - np.log(max(float(np.trace(gram)) / count, 1e-300)) * alpha / (1 + alpha)

    def residual(s: np.ndarray) -> np.ndarray:
        return gram @ np.exp(s) - np.exp(-s / alpha)

    f = residual(s)
    for _ in range(iterations):
        if np.abs(f).max() <= 1e-14 * np.exp(-s / alpha).max():
            break
        jacobian = gram * np.exp(s)[None, :] + np.diag(np.exp(-s / alpha) / alpha)
        step = np.linalg.solve(jacobian, f)
        scale = 1.0
        while scale > 1e-14:
            candidate = s - scale * step
            following = residual(candidate)
            if np.linalg.norm(following) < (1 - 1e-4 * scale) * np.linalg.norm(f):
                break
            scale /= 2
        else:
            break
        s, f = candidate, following
    return np.exp(s)


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.detach().cpu().double().numpy()
        d = g.shape[0] * fair_weights(g @ g.T) @ g
        d = d * min(1.0, MAX_NORM / (float(np.linalg.norm(d)) + 1e-6))
        return torch.from_numpy(d)
