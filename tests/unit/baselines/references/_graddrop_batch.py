"""GradDrop from scratch for a batch of representations (Chen et al., NeurIPS 2020, "Just Pick
a Sign", Algorithm 1, leak 0), for the cross-check's batch variant (test_cross_check.py):
the representation A is (B, F) and each task's gradient with respect to it is (B, F).

Per step: nabla_i = sum over the batch of sign(A) * grad_A L_i (F values: the paper's sum
over the batch dimension), P = 1/2 (1 + sum_i nabla_i / (sum_i |nabla_i| + 1e-7)),
U = torch.rand(F, generator) (one draw per feature and step, the method's stream:
stream_seed(seed, "gradient-method")), mask_i = (P > U and nabla_i > 0) or (P < U and
nabla_i < 0), and the representation gets sum_i mask_i * grad_A L_i, the feature's mask
applied to every sample of the batch. The trunk being the identity, that is also the shared
parameters' gradient.
"""

from __future__ import annotations

import torch

from harness.api import stream_seed


class BatchReference:
    def __init__(self, tasks: int, seed: int, batch: int) -> None:
        self.tasks, self.batch = tasks, batch
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "gradient-method"))

    def step(self, grads: torch.Tensor, losses: torch.Tensor, representation: torch.Tensor) -> torch.Tensor:
        g = grads.detach().to(torch.float64).reshape(self.tasks, self.batch, -1)  # (T, B, F)
        sign = torch.sign(representation.detach().to(torch.float64).reshape(self.batch, -1))  # (B, F)
        features = g.shape[2]
        uniform = torch.rand(features, generator=self.generator).to(torch.float64)
        nabla = (g * sign).sum(dim=1)  # (T, F)
        purity = 0.5 * (1.0 + nabla.sum(0) / (nabla.abs().sum(0) + 1e-7))
        result = torch.zeros(self.batch, features, dtype=torch.float64)
        for i in range(self.tasks):
            for k in range(features):
                positive = purity[k] > uniform[k] and nabla[i, k] > 0
                negative = purity[k] < uniform[k] and nabla[i, k] < 0
                if positive or negative:
                    result[:, k] += g[i, :, k]
        return result.reshape(-1)
