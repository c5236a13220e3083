"""Nash-MTL from scratch (Navon, Shamsian, Achituve, Maron, Kawaguchi, Chechik and Fetaya,
"Multi-Task Learning as a Bargaining Game", ICML 2022; the authors' code
AvivNavon/nash-mtl methods/weight_methods.py NashMTL, max_norm = 1, update every step).

alpha > 0 with GG' alpha = 1 / alpha elementwise (the bargaining solution) for
GG' = G G^T / |G G^T|_F: the authors normalise the Gram matrix by its Frobenius norm before
solving and weight the raw losses with that alpha (sqrt(|G G^T|_F) times the paper's). The
model is trained on sum_i alpha_i L_i, so the shared parameters get d = sum_i alpha_i g_i;
then, as the authors' backward (and LibMTL), torch.nn.utils.clip_grad_norm_(shared,
max_norm = 1) after the weighted backward: d * min(1, 1 / (|d| + 1e-6)). (|d|^2 =
T |G G^T|_F, so small gradients are not clipped: the normalisation matters.)
Solved here by exact cyclic coordinate minimisation of the strictly convex
f(alpha) = alpha^T GG alpha / 2 - sum_i log alpha_i (its stationary point is the solution):
coordinate i's minimiser is the positive root of GG_ii x^2 + (sum_{j != i} GG_ij alpha_j) x - 1.
(The authors solve a sequence of convex programs with cvxpy, 20 at most, stopping at a
residual of 1e-3: an approximation of this exact point.) A task with a zero gradient has no finite alpha (alpha_i -> oo
while alpha_i g_i = 0): it is left out and the others solve the problem among themselves.
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

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        active = [i for i in range(self.tasks) if float(g[i].norm()) > 0.0]
        sub = g[active]
        gram = sub @ sub.T
        alpha = torch.tensor(bargaining_weights((gram / gram.norm()).tolist()), dtype=torch.float64)
        d = alpha @ sub
        return d * min(1.0, MAX_NORM / (float(d.norm()) + 1e-6))
