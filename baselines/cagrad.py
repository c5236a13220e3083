"""CAGrad (Liu, Liu, Jin, Stone and Liu, "Conflict-Averse Gradient Descent for Multi-task
Learning", NeurIPS 2021), c = 0.4.

Rule, with g_0 the average of the task gradients of the shared parameters and
phi = c^2 |g_0|^2: w = argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|
(g_w = sum_i w_i g_i), then d = T (g_0 + sqrt(phi) / |g_w| * g_w) / (1 + c^2): the
authors' `cagrad` with rescale=1, and their `overwrite_grad`, which multiplies the update by
the number of tasks "to match the sum loss" (Cranial-XIX/CAGrad, nyuv2/utils.py and
cityscapes/utils.py). LibMTL's CAGrad.py leaves out the factor T (an average); we follow
the authors. Heads get their own losses' gradients unscaled (as the authors' code).
Guards as the authors' `cagrad` places them: c = alpha * sqrt(GG.mean() + 1e-8) + 1e-8
(their `g0_norm` and `c`), lmbda = c / (gw_norm + 1e-8), |g_w| here from the Gram matrix,
sqrt(w^T GG w) (this module used to leave out the + 1e-8 on c and take
sqrt(w^T GG w + 1e-8) for |g_w|: a relative difference of up to 6e-5 at gradient norms 2^-6,
growing as 1 / |g|^2). The weights' solve (`cagrad_weights` below, on plain floats: the
answers of baselines/solvers.py's) keeps the authors' sqrt(w^T GG w + 1e-8) in the objective
but its sqrt(phi) leaves out their + 1e-8 (a 1e-8 absolute change of the objective's coefficient:
below the cross-check's tolerance).
Scale: a sum, like `equal` (sum_i coefficient_i = T when c = 0), divided by 1 + c^2.
Reported weights: the coefficient of each g_i in d.
Cost per step: T backward passes through the shared parameters and a (T, T) Gram matrix;
the weights' solve on the host, about 0.2 ms for two or three tasks, 0.5 ms for eight on a
2-core CPU (benchmarks/cagrad_solver.py; 6 to 10 ms before issue 34).
"""

from __future__ import annotations

import math

import numpy as np
import torch

from baselines import solvers, trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, host_gram
from harness.api import StepContext, to_device

C = 0.4


def cagrad_coefficients(gram: torch.Tensor, c: float = C) -> torch.Tensor:
    """The coefficients of the task gradients in CAGrad's update (times T, as the authors)."""
    gram = gram.double()
    count = gram.shape[0]
    a = gram.tolist()
    w = cagrad_weights(gram, c)
    root_phi = c * float(torch.sqrt(gram.mean() + 1e-8)) + 1e-8  # the authors' c (torch's root)
    gw_norm = float(torch.sqrt(torch.tensor(max(_quadratic(a, w), 0.0), dtype=torch.float64)))  # |g_w|
    lam = root_phi / (gw_norm + 1e-8)  # the authors' lmbda
    coefficients = [count * (1.0 / count + lam * x) / (1 + c**2) for x in w]
    return torch.tensor(coefficients, dtype=torch.float64)


def cagrad_weights(gram: torch.Tensor, c: float, iterations: int = 200) -> list[float]:
    """CAGrad's inner problem: argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|, with
    g_0 the average gradient and phi = c^2 |g_0|^2 (Liu et al. 2021, eq. 4's dual).
    Two tasks: golden-section search on [0, 1] (the objective is convex); more tasks: its
    exact minimum, where the authors call scipy's SLSQP. Any T (the plain-float solve is
    meant for the few tasks of a benchmark: its cost grows as T^3 per Newton step)."""
    gram = gram.double()
    count = gram.shape[0]
    mean_row = gram.mean(dim=1).tolist()  # G g_0 for g_0 the mean gradient (torch's rounding)
    root_phi = c * float(torch.sqrt(gram.mean() + 1e-8))
    a = gram.tolist()
    if count == 2:
        x = _golden_section(a, mean_row, root_phi, iterations)
        return [x, 1 - x]
    answer = _face_minimum(a, mean_row, root_phi)
    return answer if answer is not None else solvers.cagrad_weights(gram, c).tolist()


# --- the weights' solve, on plain floats ------------------------------------------------
# The (T, T) Gram matrix is on the host already (host_gram); the solve iterates tens to
# hundreds of times on T^2 numbers, where each torch or NumPy call costs microseconds of
# dispatch: plain Python floats instead (issue 34). Two tasks: baselines/solvers.py's
# golden-section search (`cagrad_weights`), operation for operation as torch rounds it
# there: the same bits. More tasks: an active-set Newton method (`_face_minimum`) that
# reaches the minimiser solvers.py's log-barrier method and polish (`simplex_minimum`)
# reach, to float64 precision, and hands back to that method, unchanged, wherever its
# answer is not clear-cut (singular faces, weights near zero). The tests compare the two on
# many Gram matrices, T = 2 to 8 (tests/unit/baselines/test_cagrad_solver.py); the
# timings are benchmarks/cagrad_solver.py's.


def _quadratic(a: list[list[float]], w: list[float]) -> float:
    """w^T a w as torch computes (w @ a) @ w for two tasks: (w @ a)_j = sum_i w_i a_ij."""
    count = len(w)
    total = 0.0
    for j in range(count):
        column = 0.0
        for i in range(count):
            column += w[i] * a[i][j]
        total += column * w[j]
    return total


def _golden_section(a: list[list[float]], mean_row: list[float], root_phi: float, iterations: int) -> float:
    """The first weight of the minimiser on [0, 1] of the two-task objective: solvers.py's
    golden-section search, every value rounded as torch rounds it there, so the same bits.
    torch's float64 sqrt (MKL's, on x86) is within an ulp of the correctly rounded one,
    `math.sqrt`, but not always it (about 1 % of values): where an ulp of either root could
    turn a comparison, the roots are torch's (about 25 of the search's 80 steps). It stops
    where the bracket stops moving: from there on every step leaves it where it is."""
    (a00, a01), (a10, a11) = a
    m0, m1 = mean_row
    low, high = 0.0, 1.0
    ratio = (5**0.5 - 1) / 2
    for _ in range(iterations):
        left, right = high - ratio * (high - low), low + ratio * (high - low)
        x, y = left, 1 - left
        dot_left, square_left = x * m0 + y * m1, ((x * a00 + y * a10) * x + (x * a01 + y * a11) * y) + 1e-8
        x, y = right, 1 - right
        dot_right, square_right = x * m0 + y * m1, ((x * a00 + y * a10) * x + (x * a01 + y * a11) * y) + 1e-8
        root_left, root_right = _root(square_left), _root(square_right)
        f_left, f_right = dot_left + root_phi * root_left, dot_right + root_phi * root_right
        if not (
            dot_left + root_phi * (root_left + math.ulp(root_left))
            < dot_right + root_phi * (root_right - math.ulp(root_right))
            or dot_left + root_phi * (root_left - math.ulp(root_left))
            >= dot_right + root_phi * (root_right + math.ulp(root_right))
        ):  # an ulp of either root could turn the comparison: torch's roots
            root_left, root_right = torch.tensor([square_left, square_right], dtype=torch.float64).sqrt().tolist()
            f_left, f_right = dot_left + root_phi * root_left, dot_right + root_phi * root_right
        if f_left < f_right:
            if right == high:
                break
            high = right
        else:
            if left == low:
                break
            low = left
    return (low + high) / 2


def _newton_step(h: list[list[float]], g: list[float]) -> list[float]:
    """The step dx minimising g.dx + dx^T h dx / 2 with sum(dx) = 0, in the constraint's
    null space (dx = Z y, Z = [I; -1^T]), as solvers.py `_equality_newton_step`: Gaussian
    elimination with partial pivoting on Z^T h Z, NumPy's lstsq (its least-squares answer)
    where a pivot is negligible against its row."""
    size = len(g) - 1
    if size == 0:
        return [0.0]
    last = h[size]
    corner = last[size]
    rows = [[h[i][j] - h[i][size] - last[j] + corner for j in range(size)] + [g[size] - g[i]] for i in range(size)]
    scales = [max(abs(v) for v in row[:size]) for row in rows]
    for k in range(size):
        pivot = max(range(k, size), key=lambda r: abs(rows[r][k]))
        rows[k], rows[pivot] = rows[pivot], rows[k]
        scales[k], scales[pivot] = scales[pivot], scales[k]
        head = rows[k]
        if not abs(head[k]) > 1e-13 * scales[k]:  # singular (or not finite): as lstsq
            return _lstsq_step(h, g)
        for r in range(k + 1, size):
            row = rows[r]
            factor = row[k] / head[k]
            if factor != 0.0:
                for j in range(k, size + 1):
                    row[j] -= factor * head[j]
    y = [0.0] * size
    for k in range(size - 1, -1, -1):
        row = rows[k]
        y[k] = (row[size] - sum(row[j] * y[j] for j in range(k + 1, size))) / row[k]
    return [*y, -sum(y)]


def _lstsq_step(h: list[list[float]], g: list[float]) -> list[float]:
    count = len(g)
    z = np.vstack([np.eye(count - 1), -np.ones((1, count - 1))])
    y = np.linalg.lstsq(z.T @ np.array(h) @ z, -(z.T @ np.array(g)), rcond=None)[0]
    return [float(v) for v in z @ y]


def _root(x: float) -> float:
    """sqrt as torch and NumPy take it, NaN (not an error) below zero."""
    return math.sqrt(x) if x >= 0 else math.nan


def _face_minimum(a: list[list[float]], b: list[float], rho: float) -> list[float] | None:
    """argmin over the simplex of w.b + rho sqrt(w^T a w + 1e-8) by a primal active-set
    Newton method from the centre: Newton steps on the face of the weights kept (a weight
    that a step would take below zero is set to zero and dropped), then a dropped weight
    whose derivative lies below the face's is taken back. None where the answer is not
    clear-cut: no convergence (a full step below 1e-13, equal derivatives on the face) in
    100 steps, a kept weight at or below 1e-6 of the largest, or a dropped one's derivative
    within 1e-6 x mean(diag a) of the face's. Where it answers, `solvers.cagrad_weights`' barrier keeps the same weights
    (its support test, w > 1e-9 max w, is met with margin on both sides) and its polish on
    them reaches the same minimiser: the two agree to float64 precision
    (tests/unit/baselines/test_cagrad_solver.py)."""
    count = len(b)
    indices = range(count)
    scale = max(sum(a[i][i] for i in indices) / count, 1e-30)

    def value(w: list[float]) -> float:
        aw = [sum(row[j] * w[j] for j in indices) for row in a]
        return sum(w[i] * b[i] for i in indices) + rho * _root(sum(w[i] * aw[i] for i in indices) + 1e-8)

    def derivatives(w: list[float]) -> tuple[list[float], list[list[float]]]:
        aw = [sum(row[j] * w[j] for j in indices) for row in a]
        norm = _root(sum(w[i] * aw[i] for i in indices) + 1e-8)
        cube = norm**3
        gradient = [b[i] + rho * aw[i] / norm for i in indices]
        hessian = [[rho * (a[i][j] / norm - aw[i] * aw[j] / cube) for j in indices] for i in indices]
        return gradient, hessian

    w = [1.0 / count] * count
    support = list(indices)
    for _ in range(100):
        gradient, hessian = derivatives(w)
        face = _newton_step([[hessian[i][j] for j in support] for i in support], [gradient[i] for i in support])
        largest = max(abs(s) for s in face)
        if not largest >= 0:  # NaN
            return None
        if largest < 1e-13:  # converged on this face
            top = max(w)
            if any(not w[i] > 1e-6 * top for i in support):
                return None
            level = sum(gradient[i] for i in support) / len(support)
            if any(not abs(gradient[i] - level) <= 1e-9 * scale for i in support):
                return None  # a singular face with no stationary point (lstsq's step ~ 0)
            outside = [j for j in indices if j not in support]
            if not outside:
                return w
            j = min(outside, key=lambda k: gradient[k])
            if gradient[j] - level > 1e-6 * scale:  # every dropped weight stays at zero
                return w
            if gradient[j] - level > -1e-6 * scale:
                return None
            support = sorted([*support, j])
            w = [0.9 * x + (0.1 if i == j else 0.0) for i, x in enumerate(w)]  # into the larger face
            continue
        step = [0.0] * count
        for k, i in enumerate(support):
            step[i] = face[k]
        size, blocking = 1.0, None
        for i in support:  # the longest step that keeps every weight >= 0
            if step[i] < 0 and w[i] + step[i] < 0 and -w[i] / step[i] < size:
                size, blocking = -w[i] / step[i], i
        if largest > 1e-8:  # far from the minimum: damped (there values differ above rounding)
            current = value(w)
            while value([w[i] + size * step[i] for i in indices]) > current and size > 1e-12:
                size, blocking = size * 0.5, None
        w = [w[i] + size * step[i] for i in indices]
        if blocking is not None:
            w[blocking] = 0.0
            support.remove(blocking)
            if not support:
                return None
        total = sum(w)
        w = [x / total for x in w]
    return None


class CAGradCombiner(SharedGradientCombiner):
    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        coefficients = cagrad_coefficients(host_gram(grads)).to(grads.dtype)
        return Direction(to_device(coefficients, grads) @ grads, None, coefficients)


METHOD = trusted(
    "cagrad",
    __file__,
    lambda config, tasks: CAGradCombiner(),
    "conflict-averse gradient, c 0.4 (Liu et al. 2021)",
    "gradient",
)
