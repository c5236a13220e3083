"""CAGrad (Liu et al., NeurIPS 2021), c = 0.4, as a Gram-level submission file.

The same rule as the trusted `cagrad` baseline (baselines/cagrad.py, baselines/solvers.py):
w = argmin over the simplex of w^T G g_0 + sqrt(phi) |g_w|, phi = c^2 |g_0|^2, and the
shared gradient d = T (g_0 + sqrt(phi) / |g_w| g_w) / (1 + c^2) (the authors' code multiplies
by the number of tasks to match the sum loss), returned as the coefficient
of each task gradient in d. It needs only the (T, T) Gram matrix.
"""

import torch

C = 0.4
EPS = 1e-12


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
    w = torch.full((count,), 1.0 / count, dtype=torch.float64, requires_grad=True)
    for step in range(iterations * 5):  # exponentiated gradient on the simplex
        (gradient,) = torch.autograd.grad(objective(w), w)
        with torch.no_grad():
            w = w * torch.exp(-0.5 / (1 + step) ** 0.5 * gradient / (gradient.abs().max() + EPS))
            w = w / w.sum()
        w.requires_grad_(True)
    return w.detach()


class GramCombiner:
    def combine(self, gram, losses, epoch, total_epochs, step):
        gram = gram.double()
        count = gram.shape[0]
        w = cagrad_weights(gram, C)
        root_phi = C * torch.sqrt(gram.mean() + 1e-8)
        gw_norm = torch.sqrt(w @ gram @ w + 1e-8)
        return count * (torch.full((count,), 1.0 / count, dtype=torch.float64) + root_phi / gw_norm * w) / (1 + C**2)
