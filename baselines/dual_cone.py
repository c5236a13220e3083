"""Projection onto the dual cone of the task gradients, on their (T, T) Gram matrix: the
shared helper of UPGrad and DualProj (baselines/upgrad.py, baselines/dualproj.py).

With G the (T, P) matrix of task gradients, the dual cone of its rows is
{x : G x >= 0}, the directions that decrease no task's loss to first order. By
Proposition 1 of Quinton and Rey ("Jacobian Descent for Multi-Objective Optimization",
2024), the projection of G^T u onto that cone is G^T v with
    v = argmin_v v^T (G G^T) v  subject to  v >= u  (elementwise),
a T-variable quadratic program with bound constraints only. torchjd hands it to
quadprog (src/torchjd/aggregation/_utils/dual_cone.py, `project_weights`); here a primal
active-set method solves it exactly (up to float64 rounding) on the host, in at most a
few T small linear solves.

torchjd's conventions (src/torchjd/aggregation/_utils/gramian.py), kept here: before the
solve the Gram matrix is divided by its trace (the squared Frobenius norm of G) unless
that trace is below norm_eps = 1e-4, in which case it becomes zero, and reg_eps = 1e-4
times the identity is added, so the QP is strictly convex. The weights v are then
applied to the raw gradients: the projection is that of the regularised problem, within
about reg_eps of the exact one.
"""

from __future__ import annotations

import torch

NORM_EPS = 1e-4  # torchjd's default norm_eps
REG_EPS = 1e-4  # torchjd's default reg_eps


def conditioned_gram(gram: torch.Tensor, norm_eps: float = NORM_EPS, reg_eps: float = REG_EPS) -> torch.Tensor:
    """torchjd's `regularize(normalize(gram, norm_eps), reg_eps)` in float64: divided by
    its trace (zero if the trace is under norm_eps), plus reg_eps on the diagonal."""
    gram = gram.double()
    trace = float(torch.diagonal(gram).sum())
    base = torch.zeros_like(gram) if trace < norm_eps else gram / trace
    return base + reg_eps * torch.eye(gram.shape[0], dtype=torch.float64)


def project_weights(gram: torch.Tensor, u: torch.Tensor, max_iterations: int | None = None) -> torch.Tensor:
    """argmin over v >= u of v^T gram v, for a symmetric positive definite `gram`: the
    weights of the projection of G^T u onto the dual cone of G's rows.

    Primal active-set method: start at v = u with every bound active; repeatedly solve
    the equality-constrained problem on the free coordinates (gram_FF v_F = -gram_FA u_A),
    step towards it as far as the bounds allow (a blocking coordinate joins the active
    set), and, once the full step is feasible, free the active bound with the most
    negative multiplier (gram v)_i, stopping when none is negative (the KKT conditions:
    gram v >= 0 on the active set, = 0 on the free one, v >= u). Finite for a positive
    definite gram; T is small, so each solve is a T x T system at most."""
    gram = gram.double()
    u = u.double()
    count = u.shape[0]
    v = u.clone()
    active = torch.ones(count, dtype=torch.bool)
    scale = float(torch.diagonal(gram).abs().max()) * max(float(u.abs().max()), 1e-300)
    tolerance = 1e-13 * max(scale, 1e-300)
    limit = max_iterations if max_iterations is not None else 20 * count + 20
    for _ in range(limit):
        free = ~active
        target = u.clone()
        if bool(free.any()):
            rhs = -gram[free][:, active] @ u[active]
            target[free] = torch.linalg.solve(gram[free][:, free], rhs)
        below = free & (target < u)
        if bool(below.any()):
            # step from v towards target until the first free coordinate hits its bound
            step = target - v
            ratios = torch.full((count,), float("inf"), dtype=torch.float64)
            ratios[below] = (u[below] - v[below]) / step[below]
            block = int(torch.argmin(ratios))
            fraction = float(ratios[block].clamp(0.0, 1.0))
            v = v + fraction * step
            v[block] = u[block]
            active[block] = True
            continue
        v = target
        if not bool(active.any()):
            return v
        multipliers = gram @ v
        multipliers[~active] = float("inf")
        release = int(torch.argmin(multipliers))
        if float(multipliers[release]) >= -tolerance:
            return v
        active[release] = False
    return v


def project_rows(gram: torch.Tensor, rows: torch.Tensor) -> torch.Tensor:
    """`project_weights` of each row of `rows` (K, T): the (K, T) projection weights."""
    return torch.stack([project_weights(gram, row) for row in rows])
