"""Small exact solvers on the (T, T) Gram matrix of task gradients.

Everything here works on tensors of shape (T, P) (gradients) or (T, T) (Gram matrices) and
has a closed form for two tasks that the tests check by hand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch

EPS = 1e-12


def min_norm_weights(gram: torch.Tensor) -> torch.Tensor:
    """argmin over the simplex of || sum_i w_i g_i ||^2 (MGDA). Two tasks: the closed form
    w_1 = clip(((g_2 - g_1) . g_2) / ||g_1 - g_2||^2, 0, 1). More tasks: the exact minimum
    (`simplex_minimum`) where Sener and Koltun's MinNormSolver iterates a projected
    gradient method to a tolerance: the same problem, to float64 precision."""
    gram = gram.double()
    count = gram.shape[0]
    if count == 1:
        return torch.ones(1, dtype=torch.float64)
    if count == 2:
        return _pair_weights(gram[0, 0], gram[0, 1], gram[1, 1])
    scale = float(torch.diagonal(gram).mean())
    if not scale > 0:  # every gradient is zero: every weight gives the same (zero) update
        return torch.full((count,), 1.0 / count, dtype=torch.float64)
    a = gram.numpy() / scale  # the minimiser does not depend on the scale
    w = simplex_minimum(lambda w: float(w @ a @ w), lambda w: 2 * a @ w, lambda w: 2 * a, count, 1.0)
    return torch.from_numpy(w)


def _pair_weights(aa: torch.Tensor, ab: torch.Tensor, bb: torch.Tensor) -> torch.Tensor:
    """min over w in [0, 1] of || w a + (1 - w) b ||^2 from a.a, a.b, b.b: (w, 1 - w)."""
    denominator = aa - 2 * ab + bb
    if float(denominator) <= EPS:
        w = torch.tensor(0.5, dtype=torch.float64)
    else:
        w = ((bb - ab) / denominator).clamp(0.0, 1.0)
    return torch.stack([w, 1 - w]).double()


def nash_weights(gram: torch.Tensor, iterations: int = 100, tolerance: float = 1e-12) -> torch.Tensor:
    """The alpha > 0 with G^T G alpha = 1 / alpha (Nash-MTL's bargaining solution), the
    minimiser of f(alpha) = alpha^T G alpha / 2 - sum log alpha. Two tasks: the closed form
    alpha_1 = (a + b sqrt(a/c))^(-1/2), alpha_2 = (c + b sqrt(c/a))^(-1/2) with a = |g_1|^2,
    b = g_1.g_2, c = |g_2|^2. More tasks: damped Newton on f (convex for alpha > 0)."""
    gram = gram.double()
    if gram.shape[0] == 2:
        a, b, c = gram[0, 0].clamp_min(EPS), gram[0, 1], gram[1, 1].clamp_min(EPS)
        first = (a + b * torch.sqrt(a / c)).clamp_min(EPS)
        second = (c + b * torch.sqrt(c / a)).clamp_min(EPS)
        return torch.stack([first.rsqrt(), second.rsqrt()])
    alpha = 1.0 / torch.sqrt(torch.diagonal(gram).clamp_min(EPS))

    def objective(x: torch.Tensor) -> torch.Tensor:
        return 0.5 * x @ gram @ x - torch.log(x).sum()

    for _ in range(iterations):
        gradient = gram @ alpha - 1.0 / alpha
        hessian = gram + torch.diag(1.0 / alpha**2)
        try:
            step = torch.linalg.solve(hessian, gradient)
        except torch.linalg.LinAlgError:  # singular (opposed gradients: no solution exists)
            step = torch.linalg.lstsq(hessian, gradient.unsqueeze(1)).solution.squeeze(1)
        scale = 1.0
        while torch.any(alpha - scale * step <= 0) or objective(alpha - scale * step) > objective(alpha):
            scale /= 2
            if scale < 1e-10:
                return alpha
        alpha = alpha - scale * step
        if float(gradient.abs().max()) < tolerance:
            break
    return alpha


def cagrad_weights(gram: torch.Tensor, c: float, iterations: int = 200) -> torch.Tensor:
    """CAGrad's inner problem: argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|, with
    g_0 the average gradient and phi = c^2 |g_0|^2 (Liu et al. 2021, eq. 4's dual).
    Two tasks: golden-section search on [0, 1] (the objective is convex); more tasks: its
    exact minimum (`simplex_minimum`), where the authors call scipy's SLSQP."""
    gram = gram.double()
    count = gram.shape[0]
    mean_row = gram.mean(dim=1)  # G g_0 for g_0 the mean gradient
    root_phi = c * torch.sqrt(gram.mean() + 1e-8)

    def objective(w: torch.Tensor) -> torch.Tensor:
        return w @ mean_row + root_phi * torch.sqrt(w @ gram @ w + 1e-8)

    if count == 2:
        low, high = 0.0, 1.0
        ratio = (5**0.5 - 1) / 2
        for _ in range(iterations):
            left, right = high - ratio * (high - low), low + ratio * (high - low)
            f_left = objective(torch.tensor([left, 1 - left], dtype=torch.float64))
            f_right = objective(torch.tensor([right, 1 - right], dtype=torch.float64))
            if f_left < f_right:
                high = right
            else:
                low = left
        w = (low + high) / 2
        return torch.tensor([w, 1 - w], dtype=torch.float64)
    a, b = gram.numpy(), mean_row.numpy()
    rho = float(root_phi)

    def norm(w: np.ndarray) -> float:
        return float(np.sqrt(w @ a @ w + 1e-8))

    def hessian(w: np.ndarray) -> np.ndarray:
        aw, n = a @ w, norm(w)
        return rho * (a / n - np.outer(aw, aw) / n**3)

    scale = max(float(np.diagonal(a).mean()), 1e-30)
    w = simplex_minimum(
        lambda w: float(w @ b) + rho * norm(w), lambda w: b + rho * (a @ w) / norm(w), hessian, count, scale
    )
    return torch.from_numpy(w)


def imtl_g_weights(grads: torch.Tensor) -> torch.Tensor:
    """IMTL-G (Liu et al. 2021): alpha with sum 1 such that the aggregated gradient has equal
    projections onto every task's unit gradient: alpha_{2:T} = g_1 U^T (D U^T)^{-1},
    D = [g_1 - g_t], U = [u_1 - u_t] (rows), alpha_1 = 1 - sum alpha_{2:T}."""
    return imtl_g_solve(imtl_g_products(grads))


def imtl_g_products(grads: torch.Tensor) -> torch.Tensor:
    """The (T, T-1) products IMTL-G needs, [g_1 U^T; D U^T], where the gradients live
    (one small matrix to move to the host instead of the gradients)."""
    grads = grads.double()
    units = grads / grads.norm(dim=1, keepdim=True).clamp_min(EPS)
    d = grads[:1] - grads[1:]
    u = units[:1] - units[1:]
    return torch.cat([grads[:1] @ u.T, d @ u.T])


def imtl_g_solve(products: torch.Tensor) -> torch.Tensor:
    """alpha from `imtl_g_products` (on the host: the pseudo-inverse branches on values)."""
    rest = (products[:1] @ torch.linalg.pinv(products[1:])).reshape(-1)
    return torch.cat([1 - rest.sum().reshape(1), rest])


def aligned_weights(gram: torch.Tensor) -> torch.Tensor:
    """Aligned-MTL (Senushkin et al. 2023): with G G^T = V diag(lambda) V^T (rank r kept),
    B = sqrt(lambda_min) V diag(lambda)^(-1/2) V^T aligns the gradients to an orthogonal
    system scaled by the smallest singular value; the weights are B^T w for task
    weights w = 1, i.e. the column sums of B."""
    gram = gram.double()
    values, vectors = torch.linalg.eigh(gram)
    # the authors' cut-off (torch.finfo().eps: float32's, their default dtype), on our float64 solve
    tolerance = values.max().clamp_min(0) * gram.shape[0] * torch.finfo(torch.float32).eps
    keep = values > tolerance
    if not bool(keep.any()):
        return torch.ones(gram.shape[0], dtype=torch.float64)
    values, vectors = values[keep], vectors[:, keep]
    balance = values.min().sqrt() * (vectors @ torch.diag(values.rsqrt()) @ vectors.T)
    return balance.sum(dim=0)


def simplex_minimum(
    value: Callable[[np.ndarray], float],
    gradient: Callable[[np.ndarray], np.ndarray],
    hessian: Callable[[np.ndarray], np.ndarray],
    count: int,
    scale: float,
) -> np.ndarray:
    """argmin over the probability simplex of a smooth convex function, to float64
    precision: a log-barrier Newton method (Boyd and Vandenberghe, ch. 11) from the centre,
    then Newton on the support it found (the zero weights exactly zero), kept when it
    lowers the value. `scale` is the size of the function's values: the barrier stops when
    its duality gap T / t is 1e-15 of it. Costs about a hundred small solves on the host:
    about 10 ms for T = 3, 60 ms for T = 40 on a 2-core CPU; first-order methods (Frank-Wolfe, exponentiated gradient) stopped
    1e-3 short of the minimum in as many steps (tests/unit/baselines/test_cross_check.py)."""
    w = np.full(count, 1.0 / count)
    t = 1.0
    for _ in range(60):  # outer: the barrier weight t grows 10x until the gap count / t is negligible
        for _ in range(100):
            g = t * gradient(w) - 1.0 / w
            h = t * hessian(w) + np.diag(1.0 / w**2)
            step = _equality_newton_step(h, g)
            decrement = -float(g @ step)
            if decrement <= 1e-10:  # centred: the barrier problem is within decrement / 2 of its minimum
                break

            def barrier(x: np.ndarray, weight: float = t) -> float:
                return weight * value(x) - float(np.log(x).sum())

            size = 1.0
            while np.any(w + size * step <= 0):
                size *= 0.5
            current = barrier(w)
            slack = 1e-12 * abs(current)  # values of size t f round at this level
            while barrier(w + size * step) > current - 0.25 * size * decrement + slack and size > 1e-12:
                size *= 0.5
            w = w + size * step
        if count / t < 1e-15 * scale:
            break
        t *= 10.0
    return _polish_on_support(value, gradient, hessian, w)


def _equality_newton_step(h: np.ndarray, g: np.ndarray) -> np.ndarray:
    """The Newton step dx of the quadratic model g.dx + dx^T h dx / 2 with sum(dx) = 0, in
    the null space of the constraint (dx = Z y, Z = [I; -1^T]): no KKT matrix, whose
    constraint rows would be rounded away next to a barrier Hessian of size 1e15."""
    count = len(g)
    if count == 1:
        return np.zeros(1)
    z = np.vstack([np.eye(count - 1), -np.ones((1, count - 1))])
    y = np.linalg.lstsq(z.T @ h @ z, -(z.T @ g), rcond=None)[0]
    return z @ y


def _polish_on_support(
    value: Callable[[np.ndarray], float],
    gradient: Callable[[np.ndarray], np.ndarray],
    hessian: Callable[[np.ndarray], np.ndarray],
    w: np.ndarray,
) -> np.ndarray:
    """Newton steps on the face of the simplex where the barrier's weights are not tiny."""
    support = w > 1e-9 * w.max()
    polished = np.where(support, w, 0.0)
    polished /= polished.sum()
    for _ in range(20):
        g, h = gradient(polished)[support], hessian(polished)[np.ix_(support, support)]
        step = np.zeros_like(polished)
        step[support] = _equality_newton_step(h, g)
        size = 1.0
        while np.any(polished[support] + size * step[support] < 0) and size > 1e-16:
            size *= 0.5
        candidate = polished + size * step
        if value(candidate) > value(polished):
            break
        polished = candidate
        if float(np.abs(step).max()) < 1e-15:
            break
    best = polished if value(polished) <= value(w) else w
    best = np.maximum(best, 0.0)  # a last halved step may leave -1e-14 where a weight is 0
    return best / best.sum()
