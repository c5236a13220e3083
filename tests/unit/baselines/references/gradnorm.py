"""GradNorm from scratch (Chen, Badrinarayanan, Lee and Rabinovich, "GradNorm: Gradient
Normalization for Adaptive Loss Balancing in Deep Multitask Networks", ICML 2018,
Algorithm 1), alpha = 1.5.

The model is trained on sum_i w_i L_i with task weights w (from 1), so the shared
parameters get sum_i w_i g_i with this step's weights. Then, with W the last shared layer
(in the cross-check model the trunk's only parameter theta, so grad_W L_i = g_i),
G_i = w_i |g_i|, r_i = (L_i / L_i(0)) / mean_j (L_j / L_j(0)) (L(0): the first step's
losses), and the target G_mean r_i^alpha held constant, the weights take one gradient step
on L_grad = sum_i |G_i - target_i|: d L_grad / d w_i = sign(G_i - target_i) |g_i|; then are
renormalised to sum to T. The paper leaves the weights' optimiser and sign open; as the
project's protocol: SGD with the step's lr 0.1 and momentum 0.9 (the test's TrainConfig
defaults), no weight decay, the weights clamped to >= 1e-3 before renormalising.
"""

from __future__ import annotations

import torch

NAME = "gradnorm"
ALPHA, LR, MOMENTUM, FLOOR = 1.5, 0.1, 0.9, 1e-3


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        self.weights = torch.ones(tasks, dtype=torch.float64)
        self.initial: torch.Tensor | None = None
        self.momentum: torch.Tensor | None = None

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        values = losses.to(torch.float64)
        update = self.weights @ g
        if self.initial is None:
            self.initial = values.clamp_min(1e-8)
        norms = g.norm(dim=1)
        weighted = self.weights * norms
        ratio = values / self.initial
        target = weighted.mean() * (ratio / ratio.mean()) ** ALPHA
        gradient = torch.sign(weighted - target) * norms
        self.momentum = gradient.clone() if self.momentum is None else MOMENTUM * self.momentum + gradient
        weights = (self.weights - LR * self.momentum).clamp_min(FLOOR)
        self.weights = weights * self.tasks / weights.sum()
        return update
