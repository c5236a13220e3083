"""GradVac from scratch (Wang, Tsvetkov, Firat and Cao, "Gradient Vaccine: Investigating and
Improving Multi-task Optimization in Massively Multilingual Models", ICLR 2021,
Algorithm 1), beta = 0.01 (the paper's), whole-model granularity.

Targets phi^_ij start at 0. For each task i, g_i' starts at g_i; for every other task j in
a random order: phi_ij = cos(g_i', g_j); if phi_ij < phi^_ij,
g_i' += |g_i'| (phi^_ij sqrt(1 - phi_ij^2) - phi_ij sqrt(1 - phi^_ij^2))
        / (|g_j| sqrt(1 - phi^_ij^2)) g_j;
then (in every case, as the paper's Algorithm 1; LibMTL's GradVac.py updates only inside
the branch) phi^_ij <- (1 - beta) phi^_ij + beta phi_ij. The update is sum_i g_i'.
A zero gradient has cosine 0 with everything, and adding a multiple of a zero g_j adds nothing.

Random order: the project's draw (the authors released no code; LibMTL uses Python's
random.shuffle): a torch.Generator seeded with the job seed, and for each task i one
torch.randperm(T, generator) over all tasks, i itself skipped.
"""

from __future__ import annotations

import math

import torch

from harness.api import stream_seed

NAME = "gradvac"
BETA = 0.01


class Reference:
    def __init__(self, tasks: int, seed: int) -> None:
        self.tasks = tasks
        # the project's seed derivation (not a solver): the method's stream, apart from the data's
        self.generator = torch.Generator().manual_seed(stream_seed(seed, "gradient-method"))
        self.targets = [[0.0] * tasks for _ in range(tasks)]

    def step(self, grads: torch.Tensor, losses: torch.Tensor) -> torch.Tensor:
        g = grads.to(torch.float64)
        norms = [float(row.norm()) for row in g]
        total = torch.zeros(g.shape[1], dtype=torch.float64)
        for i in range(self.tasks):
            order = torch.randperm(self.tasks, generator=self.generator).tolist()
            current = g[i].clone()
            for j in order:
                if j == i:
                    continue
                size = float(current.norm())
                cosine = float(current @ g[j]) / (size * norms[j]) if size > 0 and norms[j] > 0 else 0.0
                target = self.targets[i][j]
                if cosine < target and norms[j] > 0:
                    weight = (
                        size
                        * (target * math.sqrt(1 - cosine**2) - cosine * math.sqrt(1 - target**2))
                        / (norms[j] * math.sqrt(1 - target**2))
                    )
                    current = current + weight * g[j]
                self.targets[i][j] = (1 - BETA) * target + BETA * cosine
            total += current
        return total
