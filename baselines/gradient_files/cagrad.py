"""CAGrad (Liu et al., NeurIPS 2021), c = 0.4, as a Gram-level submission file.

The same rule as the trusted `cagrad` baseline (baselines/cagrad.py, baselines/solvers.py):
w = argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|, phi = c^2 |g_0|^2, and the
shared gradient d = T (g_0 + sqrt(phi) / |g_w| g_w) / (1 + c^2) (the authors' code multiplies
by the number of tasks to match the sum loss), returned as the coefficient
of each task gradient in d. It needs only the (T, T) Gram matrix.
"""

import numpy as np
import torch

C = 0.4


def cagrad_weights(gram, c, iterations=200):
    count = gram.shape[0]
    mean_row = gram.mean(dim=1)
    root_phi = c * torch.sqrt(gram.mean() + 1e-8)

    def objective(w):
        return w @ mean_row + root_phi * torch.sqrt(w @ gram @ w + 1e-8)

    if count == 2:  # golden-section search on [0, 1]
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
    return torch.from_numpy(simplex_minimum(gram.numpy(), mean_row.numpy(), float(root_phi)))


def simplex_minimum(a, b, rho):
    """The exact minimum of w.b + rho sqrt(w^T a w + 1e-8) over the simplex (T >= 3): a
    log-barrier Newton method, then Newton on the support it found (the trusted baseline's
    solver, baselines/solvers.py, written again here: a submission imports no harness code)."""
    count = len(b)
    null = np.vstack([np.eye(count - 1), -np.ones((1, count - 1))])  # steps that keep sum(w) = 1

    def value(w):
        return float(w @ b) + rho * float(np.sqrt(w @ a @ w + 1e-8))

    def derivatives(w):
        aw, norm = a @ w, float(np.sqrt(w @ a @ w + 1e-8))
        return b + rho * aw / norm, rho * (a / norm - np.outer(aw, aw) / norm**3)

    def newton_step(gradient, hessian, basis):
        return basis @ np.linalg.lstsq(basis.T @ hessian @ basis, -(basis.T @ gradient), rcond=None)[0]

    w, t, scale = np.full(count, 1.0 / count), 1.0, max(float(np.diagonal(a).mean()), 1e-30)
    for _ in range(60):  # centre at least once, then raise t until the gap count / t is negligible
        for _ in range(100):
            gradient, hessian = derivatives(w)
            step = newton_step(t * gradient - 1 / w, t * hessian + np.diag(1 / w**2), null)
            decrement = -float((t * gradient - 1 / w) @ step)
            if decrement <= 1e-10:
                break
            size = 1.0
            while np.any(w + size * step <= 0):
                size /= 2

            def barrier(x, weight=t):
                return weight * value(x) - float(np.log(x).sum())

            slack = 1e-12 * abs(barrier(w))
            while barrier(w + size * step) > barrier(w) - 0.25 * size * decrement + slack and size > 1e-12:
                size /= 2
            w = w + size * step
        if count / t < 1e-15 * scale:
            break
        t *= 10
    support = w > 1e-9 * w.max()
    polished = np.where(support, w, 0.0) / w[support].sum()
    for _ in range(20):
        gradient, hessian = derivatives(polished)
        step = np.zeros(count)
        kept = int(support.sum())
        basis = np.vstack([np.eye(kept - 1), -np.ones((1, kept - 1))]) if kept > 1 else np.zeros((1, 0))
        if kept > 1:
            step[support] = newton_step(gradient[support], hessian[np.ix_(support, support)], basis)
        size = 1.0
        while np.any(polished[support] + size * step[support] < 0) and size > 1e-16:
            size /= 2
        if value(polished + size * step) > value(polished):
            break
        polished = polished + size * step
    best = polished if value(polished) <= value(w) else w
    best = np.maximum(best, 0.0)  # a last halved step may leave -1e-14 where a weight is 0
    return best / best.sum()


class GramCombiner:
    def combine(self, gram, losses, epoch, total_epochs, step):
        gram = gram.double()
        count = gram.shape[0]
        w = cagrad_weights(gram, C)
        root_phi = C * torch.sqrt(gram.mean() + 1e-8) + 1e-8  # the authors' c
        gw_norm = torch.sqrt((w @ gram @ w).clamp_min(0.0))  # |g_w|
        lam = root_phi / (gw_norm + 1e-8)  # the authors' lmbda
        return count * (torch.full((count,), 1.0 / count, dtype=torch.float64) + lam * w) / (1 + C**2)
