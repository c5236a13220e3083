"""GradDrop, gradient sign dropout (Chen, Ngiam, Huang, Luong, Kretzschmar, Chai and
Anguelov, "Just Pick a Sign: Optimizing Deep Multitask Models with Gradient Sign Dropout",
NeurIPS 2020, Algorithm 1), as LibMTL runs it (LibMTL/weighting/GradDrop.py), leak 0
(LibMTL's default `--leak 0.0`).

Rule, on the shared representation A (the heads' input, a batch of B samples of F features)
and G_i = dL_i/dA, the per-sample gradients of each task:
  1. nabla_i = sum over the batch of sign(A) * G_i, one value per feature (sign(A) makes the
     sign that of the gradient of the weights that produce A; A >= 0 after a ReLU);
  2. purity P = 1/2 (1 + sum_i nabla_i / (sum_i |nabla_i| + 1e-7)), per feature;
  3. U ~ uniform[0, 1), one draw per feature (shared by the samples and tasks);
  4. mask M_i = [P > U] [nabla_i > 0] + [P < U] [nabla_i < 0]: each feature keeps only the
     tasks whose gradient has the sign picked with probability P (a zero nabla_i is dropped);
  5. the trunk is backpropagated from A with sum_i (leak + (1 - leak) M_i) G_i (M_i broadcast
     over the batch); each head gets its own task's gradient unscaled (LibMTL backpropagates
     every task loss to its head before replacing the representation's gradient).
The draws come from the base class's CPU generator (seeded by stream_seed(seed,
"gradient-method"), apart from the data order's stream; checkpointed): one
`torch.rand(F, generator=...)` in float32 per step, copied to the device asynchronously
(tests/unit/baselines/references/graddrop.py draws the same numbers).
Scale: a sum, like `equal`, of which some per-feature terms are dropped (with leak 0 and
agreeing signs, exactly `equal`'s gradient).
Reported weights: [1, ..., 1]: the mask is per feature, so no per-task coefficient exists;
each kept term enters with coefficient 1, as in `equal`. Extras: `kept_fraction`, the
fraction of the nonzero nabla_i entries (tasks x features) that are kept.
Cost per step: T backward passes through the heads, one through the trunk, an F-sized draw.
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext, to_device

LEAK = 0.0
EPS = 1e-7


def sign_dropout(
    per_sample: torch.Tensor, signs: torch.Tensor, uniform: torch.Tensor, leak: float = LEAK
) -> tuple[torch.Tensor, torch.Tensor]:
    """(the representation's new gradient (B, F), the kept fraction) from the per-sample task
    gradients (T, B, F), sign(A) (B, F) and the uniform draws (F,). Branch-free."""
    summed = (per_sample * signs).sum(dim=1)  # nabla, (T, F)
    purity = 0.5 * (1 + summed.sum(dim=0) / (summed.abs().sum(dim=0) + EPS))
    mask = (purity > uniform) & (summed > 0) | (purity < uniform) & (summed < 0)
    factor = leak + (1 - leak) * mask.to(per_sample.dtype)
    kept = mask.sum() / (summed != 0).sum().clamp_min(1)
    return (per_sample * factor[:, None, :]).sum(dim=0), kept


class GradDropCombiner(SharedGradientCombiner):
    uses_representation = True

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None and self.representation is not None
        representation = self.representation
        batch = representation.shape[0]
        per_sample = grads.view(grads.shape[0], batch, -1)
        signs = torch.sign(representation.detach()).reshape(batch, -1).to(grads.dtype)
        uniform = to_device(torch.rand(per_sample.shape[2], generator=self.generator), grads)
        new_gradient, kept = sign_dropout(per_sample, signs, uniform.to(grads.dtype))
        trunk = torch.autograd.grad(
            representation,
            self.shared,
            grad_outputs=new_gradient.view_as(representation).to(representation.dtype),
            retain_graph=True,
            allow_unused=True,
        )
        flat = torch.cat(
            [(torch.zeros_like(p) if g is None else g).reshape(-1).float() for g, p in zip(trunk, self.shared)]
        )
        return Direction(flat, None, [1.0] * len(losses), {"kept_fraction": kept})

    def state(self) -> object:
        return self.generator.get_state()

    def load_state(self, state: object) -> None:
        self.generator.set_state(state)  # type: ignore[arg-type]


METHOD = trusted(
    "graddrop",
    __file__,
    lambda config, tasks: GradDropCombiner(),
    "gradient sign dropout on the representation (Chen et al. 2020)",
    "gradient",
)
