"""DualProj from scratch (Quinton and Rey 2024, "Jacobian Descent for Multi-Objective
Optimization"; torchjd's DualProj aggregator with its defaults), for the cross-check.

Per step, with G the (T, P) gradients: J = G G^T / trace (zero if trace < 1e-4, torchjd's
norm_eps) + 1e-4 I (torchjd's reg_eps); w = argmin_{v >= 1/T} v^T J v (Proposition 1: the
weights of the projection of the mean gradient onto the dual cone {x : G x >= 0}); the
shared parameters get w @ G. The QP is solved by projected gradient descent with Nesterov
momentum and step 1 / lambda_max(J), run until the KKT residual is at float64 rounding --
another algorithm than the method's active-set walk (and than the UPGrad reference's
enumeration); stateless.
"""

from __future__ import annotations

import numpy as np
import torch

NAME = "dualproj"
NORM_EPS = 1e-4
REG_EPS = 1e-4


def regularised_gram(grads: np.ndarray) -> np.ndarray:
    gram = grads @ grads.T
    trace = float(np.trace(gram))
    base = np.zeros_like(gram) if trace < NORM_EPS else gram / trace
    return base + REG_EPS * np.eye(gram.shape[0])


def box_qp(gram: np.ndarray, lower: np.ndarray, iterations: int = 200_000) -> np.ndarray:
    """argmin_{v >= lower} v^T gram v by accelerated projected gradient (FISTA with restarts)."""
    step = 1.0 / float(np.linalg.eigvalsh(gram).max())
    v = lower.copy()
    y, t = v.copy(), 1.0
    for _ in range(iterations):
        following = np.maximum(y - step * (gram @ y), lower)
        t_next = (1 + np.sqrt(1 + 4 * t * t)) / 2
        if (following - v) @ (gram @ following) > 0:  # the objective rose: restart the momentum
            y, t = v.copy(), 1.0
            continue
        y = following + (t - 1) / t_next * (following - v)
        v, t = following, t_next
        multipliers = gram @ v
        slack = v - lower
        stationary = np.abs(np.where(slack > 1e-15, multipliers, np.minimum(multipliers, 0.0))).max()
        if stationary < 1e-15:
            break
    return v


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.detach().cpu().double().numpy()
        count = g.shape[0]
        weights = box_qp(regularised_gram(g), np.full(count, 1.0 / count))
        return torch.from_numpy(weights @ g)
