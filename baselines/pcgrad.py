"""PCGrad (Yu et al., NeurIPS 2020): gradient surgery on the shared parameters.

Each task's gradient of the shared parameters is projected, for the other tasks in a
random order, onto the normal plane of that task's original gradient whenever the two
conflict (negative inner product); the projected gradients are summed. Task heads get
their own task's gradient. A trusted, gradient-level combiner.
Scale: a sum, like `equal`. Cost per step: T backward passes through the shared parameters.
Reported weights: the coefficient of each original g_j in the update. Every projection
subtracts a multiple k_ij of an original gradient, so the update is exactly
sum_j (1 - sum_i k_ij) g_j: 1 for a task nobody conflicts with, more where it was projected on.
Source: the authors' code, tianheyu927/PCGrad, PCGrad_tf.py (TensorFlow only), and LibMTL/weighting/PCGrad.py,
which this follows: surgery on the shared parameters only, projected gradients summed.
Deviations: the order is torch.randperm from the method's generator, seeded by stream_seed(seed, "gradient-method"),
where LibMTL and the PyTorch port (WeiChengTseng/Pytorch-PCGrad) call Python's random.shuffle; PCGrad_tf.py discards
`tf.random.shuffle(loss)`'s result, so it projects in a fixed order (for T = 2 the order does not matter).
PCGrad_tf.py projects whole-model gradients (heads included, so |g_j|^2 counts task j's head) and the PyTorch port
averages; here, as in LibMTL, shared parameters only, summed. |g_j|^2 is floored at 1e-20 (none in the references).
The projections skip j = i, as the paper's Algorithm 1; LibMTL's loop and PCGrad_tf.py also project g_i' on its
own original g_i, which can fire for T >= 3 after other projections (about 2% of random 2-D cases).
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext


def project_conflicting(
    grads: list[torch.Tensor], generator: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
    """PCGrad projection of flat per-task gradients; returns them, the conflict count and
    the coefficient of each original gradient in their sum. Written without data-dependent
    branches, so it does not synchronise a GPU."""
    projected = []
    conflicts = torch.zeros((), device=grads[0].device)
    coefficients = [torch.ones((), device=grads[0].device) for _ in grads]
    for i, grad in enumerate(grads):
        result = grad.clone()
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j == i:
                continue
            other = grads[j]
            dot = torch.dot(result, other)
            coefficient = torch.clamp(dot, max=0.0) / torch.dot(other, other).clamp_min(1e-20)
            result = result - coefficient * other
            coefficients[j] = coefficients[j] - coefficient
            conflicts = conflicts + (dot < 0).float()
        projected.append(result)
    return projected, conflicts, torch.stack(coefficients)


class PCGradCombiner(SharedGradientCombiner):
    def state(self) -> object:
        return self.generator.get_state()

    def load_state(self, state: object) -> None:
        self.generator.set_state(state)  # type: ignore[arg-type]

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        projected, conflicts, coefficients = project_conflicting(list(grads), self.generator)
        pairs = len(losses) * (len(losses) - 1)
        return Direction(
            torch.stack(projected).sum(0),
            None,
            coefficients,
            {"conflict_fraction": conflicts / pairs},
        )


METHOD = trusted(
    "pcgrad",
    __file__,
    lambda config, tasks: PCGradCombiner(),
    "projecting conflicting gradients (Yu et al. 2020)",
    "gradient",
)
