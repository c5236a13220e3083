"""MGDA-UB from scratch (Sener and Koltun, "Multi-Task Learning as Multi-Objective
Optimization", NeurIPS 2018, the "upper bound" variant without gradient normalisation).

w = argmin over the simplex of |sum_i w_i g_i|^2, with g_i the gradients with respect to
the shared representation z (in the cross-check model z = theta, so these are the `grads`
given); the model is trained on sum_i w_i L_i, so the shared parameters get the min-norm
element sum_i w_i g_i (unique even where w is not, e.g. with a zero gradient).
Solved exactly by enumerating supports (the authors and the project iterate): for every
non-empty subset S of tasks, the minimiser of |sum_{i in S} w_i g_i|^2 subject to
sum_{i in S} w_i = 1 alone solves the KKT system [G_S 1; 1^T 0] [w; mu] = [0; 1]
(least squares where G_S is singular); among the candidates with w >= 0 the smallest
norm is the simplex minimum (its support's equality-constrained minimiser is feasible).
"""

from __future__ import annotations

from itertools import combinations

import torch

NAME = "mgda-ub"


def min_norm_element(g: torch.Tensor) -> torch.Tensor:
    tasks = g.shape[0]
    gram = g @ g.T
    best: torch.Tensor | None = None
    best_norm = float("inf")
    for size in range(1, tasks + 1):
        for support in combinations(range(tasks), size):
            index = list(support)
            kkt = torch.zeros(size + 1, size + 1, dtype=torch.float64)
            kkt[:size, :size] = gram[index][:, index]
            kkt[:size, size] = 1.0
            kkt[size, :size] = 1.0
            rhs = torch.zeros(size + 1, 1, dtype=torch.float64)
            rhs[size] = 1.0
            solution = torch.linalg.lstsq(kkt, rhs, driver="gelsd").solution[:size, 0]
            if float(solution.min()) < -1e-12 or abs(float(solution.sum()) - 1.0) > 1e-9:
                continue
            point = solution.clamp_min(0.0) @ g[index]
            norm = float(point.norm())
            if norm < best_norm:
                best, best_norm = point, norm
    assert best is not None  # every single task is a feasible candidate
    return best


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        return min_norm_element(grads.to(torch.float64))
