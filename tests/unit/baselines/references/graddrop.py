"""GradDrop from scratch (Chen et al., NeurIPS 2020, Algorithm 1, leak 0; LibMTL's GradDrop),
for a batch of one sample, so the representation's gradient per task is one row of `grads`.

Per step: nabla_i = sign(z) * grads_i, P = 1/2 (1 + sum_i nabla_i / (sum_i |nabla_i| + 1e-7)),
U = torch.rand(P, generator=self.generator) (float32, one draw of P numbers per step, the
generator seeded with `seed` at construction: the method's only random numbers, in the same
order), keep task i at feature k if (P_k > U_k and nabla_ik > 0) or (P_k < U_k and
nabla_ik < 0); the representation (and, the trunk being the identity, the shared parameters)
gets sum_i kept_i * grads_i.

sign(z) needs the representation, which `step(grads, losses)` is not given: pass it as
`representation=` (z = theta in the cross-check model), or, when omitted, z > 0 everywhere
is assumed (sign 1: a positive representation, such as a ReLU's output or a positive theta).
"""

from __future__ import annotations

import torch

from harness.api import stream_seed

NAME = "graddrop"


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        # the project's seed derivation (not a solver): the method's stream, apart from the data's
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "gradient-method"))

    def step(
        self, grads: torch.Tensor, losses: torch.Tensor, representation: torch.Tensor | None = None
    ) -> torch.Tensor:
        g = grads.detach().cpu().to(torch.float64)
        sign = torch.ones(g.shape[1], dtype=torch.float64)
        if representation is not None:
            sign = torch.sign(representation.detach().cpu().reshape(-1).to(torch.float64))
        uniform = torch.rand(g.shape[1], generator=self.generator).to(torch.float64)
        result = torch.zeros(g.shape[1], dtype=torch.float64)
        nabla = g * sign
        purity = 0.5 * (1.0 + nabla.sum(0) / (nabla.abs().sum(0) + 1e-7))
        for i in range(self.tasks):
            for k in range(g.shape[1]):
                positive = purity[k] > uniform[k] and nabla[i, k] > 0
                negative = purity[k] < uniform[k] and nabla[i, k] < 0
                if positive or negative:
                    result[k] += g[i, k]
        return result
