"""Nash-MTL from scratch (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya,
"Multi-Task Learning as a Bargaining Game", ICML 2022; the authors' code
AvivNavon/nash-mtl methods/weight_methods.py NashMTL, max_norm = 1, update every step).

The authors' problem, read off `_init_optim_problem` and `get_weighted_loss`: with
K = G G^T (G the (T, P) task gradients of the shared parameters) and nf = |K|_F, the solver
gets K / nf and the constraints -log(alpha_i nf) - log(((K / nf) alpha)_i) <= 0, that is
alpha_i (K alpha)_i >= 1 on the raw K; the convex-concave steps stop at the bargaining
solution, alpha > 0 with alpha_i (K alpha)_i = 1 for every i, and that alpha weights the
raw losses. The model is trained on sum_i alpha_i L_i, so the shared parameters get
d = sum_i alpha_i g_i (|d|^2 = alpha^T K alpha = T); then `backward` calls
torch.nn.utils.clip_grad_norm_(shared, max_norm = 1): d * min(1, 1 / (|d| + 1e-6)).
Solved here on the raw K (no rescaling) by exact cyclic coordinate minimisation of the
strictly convex f(alpha) = alpha^T K alpha / 2 - sum_i log alpha_i (its stationary point is
the solution): coordinate i's minimiser is the positive root of
K_ii x^2 + (sum_{j != i} K_ij alpha_j) x - 1. (The authors solve a sequence of convex
programs with cvxpy/ECOS, 20 at most: an approximation of this exact point.) A task with a
zero gradient has no finite alpha (alpha_i -> oo while alpha_i g_i = 0): it is left out and
the others solve the problem among themselves.
Heads: the model is trained on sum_i alpha_i L_i and only the shared parameters are clipped,
so head i gets alpha_i times its own loss's gradient (`head_weights` after a step; None for a
zero-gradient task, whose alpha the authors leave at the previous step's).
"""

from __future__ import annotations

import math

import torch

NAME = "nash-mtl"
MAX_NORM = 1.0


def bargaining_weights(gram: list[list[float]]) -> list[float]:
    count = len(gram)
    alpha = [1.0 / math.sqrt(gram[i][i]) for i in range(count)]
    for _ in range(200_000):
        largest = 0.0
        for i in range(count):
            a = gram[i][i]
            b = sum(gram[i][j] * alpha[j] for j in range(count) if j != i)
            root = math.sqrt(b * b + 4.0 * a)
            new = 2.0 / (b + root) if b > 0 else (root - b) / (2.0 * a)
            largest = max(largest, abs(new - alpha[i]) / new)
            alpha[i] = new
        if largest < 1e-15:
            break
    return alpha


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        self.head_weights: list[float | None] = [None] * tasks

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        active = [i for i in range(self.tasks) if float(g[i].norm()) > 0.0]
        sub = g[active]
        alpha = torch.tensor(bargaining_weights((sub @ sub.T).tolist()), dtype=torch.float64)
        self.head_weights = [None] * self.tasks
        for row, i in enumerate(active):
            self.head_weights[i] = float(alpha[row])
        d = alpha @ sub
        return d * min(1.0, MAX_NORM / (float(d.norm()) + 1e-6))
