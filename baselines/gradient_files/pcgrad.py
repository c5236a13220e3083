"""PCGrad (Yu et al., NeurIPS 2020) as a gradient-level submission file.

The same rule as the trusted `pcgrad` baseline (baselines/pcgrad.py): each task's gradient
of the shared parameters is projected, for the other tasks in a random order, onto the
normal plane of that task's gradient whenever the two conflict; the projections are
summed. The random order comes from a generator seeded with the job's seed, drawn as the
trusted baseline draws it, so the two trajectories agree (tests/unit/oracle).
"""

import torch


class GradientCombiner:
    def __init__(self, seed: int) -> None:
        self.generator = torch.Generator().manual_seed(seed)

    def combine(self, grads, losses, epoch, total_epochs, step):
        projected = []
        for i in range(len(grads)):
            result = grads[i].clone()
            for j in torch.randperm(len(grads), generator=self.generator).tolist():
                if j == i:
                    continue
                dot = torch.dot(result, grads[j])
                coefficient = torch.clamp(dot, max=0.0) / torch.dot(grads[j], grads[j]).clamp_min(1e-20)
                result = result - coefficient * grads[j]
            projected.append(result)
        return torch.stack(projected).sum(0)
