"""UPGrad from scratch (Quinton and Rey 2024, "Jacobian Descent for Multi-Objective
Optimization"; torchjd's UPGrad aggregator with its defaults), for the cross-check.

Per step, with G the (T, P) gradients: J = G G^T / trace (zero if trace < 1e-4, torchjd's
norm_eps) + 1e-4 I (torchjd's reg_eps); for each task i, v_i = argmin_{v >= e_i / T} v^T J v
(Proposition 1: the weights of the projection of g_i / T onto the dual cone {x : G x >= 0});
the shared parameters get (sum_i v_i) @ G, the mean of the projected gradients.
The QP is solved here by enumerating every set of free coordinates and keeping the one whose
solution satisfies the KKT conditions (unique: J is positive definite) -- exact, and another
algorithm than the method's active-set walk; stateless.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch

NAME = "upgrad"
NORM_EPS = 1e-4
REG_EPS = 1e-4


def regularised_gram(grads: np.ndarray) -> np.ndarray:
    gram = grads @ grads.T
    trace = float(np.trace(gram))
    base = np.zeros_like(gram) if trace < NORM_EPS else gram / trace
    return base + REG_EPS * np.eye(gram.shape[0])


def box_qp(gram: np.ndarray, lower: np.ndarray) -> np.ndarray:
    """argmin_{v >= lower} v^T gram v by enumeration of the free sets, checked by KKT."""
    count = lower.shape[0]
    best: np.ndarray | None = None
    best_value = np.inf
    scale = float(np.abs(np.diag(gram)).max()) * max(float(np.abs(lower).max()), 1e-300)
    for pattern in itertools.product([False, True], repeat=count):
        free = np.array(pattern)
        v = lower.copy()
        if free.any():
            v[free] = np.linalg.solve(gram[np.ix_(free, free)], -gram[np.ix_(free, ~free)] @ lower[~free])
        if (v < lower - 1e-14 * max(1.0, float(np.abs(lower).max()))).any():
            continue
        multipliers = gram @ v
        if (multipliers[~free] < -1e-12 * scale).any():
            continue
        value = float(v @ gram @ v)
        if value < best_value:
            best, best_value = v, value
    assert best is not None, "no KKT point: the Gram matrix is not positive definite"
    return best


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.detach().cpu().double().numpy()
        count = g.shape[0]
        gram = regularised_gram(g)
        weights = np.zeros(count)
        for i in range(count):
            lower = np.zeros(count)
            lower[i] = 1.0 / count
            weights += box_qp(gram, lower)
        return torch.from_numpy(weights @ g)
