"""PCGrad from scratch (Yu, Kumar, Gupta, Levine, Hausman and Finn, "Gradient Surgery for
Multi-Task Learning", NeurIPS 2020, Algorithm 1).

For each task i, g_i^PC starts at g_i; for every other task j in a random order, if
g_i^PC . g_j < 0 then g_i^PC -= (g_i^PC . g_j / |g_j|^2) g_j (the ORIGINAL g_j, as the
paper and the authors' code). The update is sum_i g_i^PC (the sum, like the summed loss).

Random order: the project's draw, which the reference must repeat to agree bit for bit:
a torch.Generator seeded with the job seed, and for each task i in turn one
torch.randperm(T, generator) over all tasks, i itself skipped. (The authors' TF code
shuffles once per step with tf.random.shuffle and LibMTL uses Python's random.shuffle:
other streams, the same rule.)
"""

from __future__ import annotations

import torch

from harness.api import stream_seed

NAME = "pcgrad"


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        # the project's seed derivation (not a solver): the method's stream, apart from the data's
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "gradient-method"))

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        total = torch.zeros(g.shape[1], dtype=torch.float64)
        for i in range(self.tasks):
            order = torch.randperm(self.tasks, generator=self.generator).tolist()
            surgered = g[i].clone()
            for j in order:
                if j == i:
                    continue
                dot = float(surgered @ g[j])
                if dot < 0.0:  # a zero g_j has dot 0: nothing to project
                    surgered = surgered - dot / float(g[j] @ g[j]) * g[j]
            total += surgered
        return total
