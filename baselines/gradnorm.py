"""GradNorm (Chen, Badrinarayanan, Lee and Rabinovich, ICML 2018), alpha = 1.5.

Rule: the model is trained on sum_i w_i L_i with task weights w_i (starting at 1). At each
step, with W the last shared layer's weight (the trunk's last parameter with 2 or more
dimensions), G_i = |grad_W w_i L_i|, G_mean their mean, r_i = (L_i / L_i(0)) / mean_j
(L_j / L_j(0)) the relative inverse training rate (L_i(0): the first step's losses), the
weights take one gradient step on L_grad = sum_i |G_i - G_mean r_i^alpha| with the target
held constant, then are renormalised to sum to T. The weights' optimiser is SGD with the
protocol's learning rate and schedule and momentum (no weight decay); weights are kept
above 1e-3 before renormalising (the paper leaves their sign unconstrained).
Scale: sum_i w_i = T: the combined gradient is a weighted sum like `equal`'s.
Cost per step: T extra backward passes to the last shared layer (through the heads).
Source: the paper's algorithm (no authors' code found); LibMTL/weighting/GradNorm.py (alpha 1.5) for comparison.
Deviations: the weights' optimiser and the 1e-3 floor are ours (neither paper nor LibMTL prescribes them). Otherwise
the paper's form, not LibMTL's: LibMTL sets w = T softmax(l) (no floor or renormalisation), l an nn.Parameter of the
model trained by the model's optimizer (default Adam, lr 1e-4, weight decay 1e-5), keeps w = 1 for epoch 0, takes
L_i(0) as epoch 0's mean loss and G_i on all shared parameters, and leaves the heads' gradients unweighted.
Weight curves: with the protocol's SGD (lr 0.1, momentum 0.9) on this L1 objective the
weights do not oscillate: on the synthetic CIFAR data (ResNet-20, 256 steps of 64 images,
2026-11-26) the fine task's weight rose from 1 to about 1.84 in two epochs and settled
(mean change per step 0.015; 26% of consecutive changes reverse, against 50% for a random walk).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner, flat_gradients
from harness.api import StepContext, TrainConfig, to_device

ALPHA = 1.5
FLOOR = 1e-3


def gradnorm_weight_gradient(
    weights: torch.Tensor, norms: torch.Tensor, losses: torch.Tensor, initial: torch.Tensor, alpha: float = ALPHA
) -> torch.Tensor:
    """d L_grad / d w for G_i = w_i |grad_W L_i| (`norms`), target held constant."""
    g = weights * norms
    ratio = losses / initial
    target = g.mean() * (ratio / ratio.mean()) ** alpha
    return torch.sign(g - target) * norms


class GradNormCombiner(SharedGradientCombiner):
    needs_shared_gradients = False

    def __init__(self, config: TrainConfig, tasks: int = 2) -> None:
        super().__init__()
        self.config = config
        self._place(torch.ones(tasks))
        self.initial: torch.Tensor | None = None
        self.last_layer: nn.Parameter | None = None

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self.last_layer = [p for p in self.shared if p.dim() >= 2][-1]
        self._place(to_device(self.weights.detach(), self.last_layer, "setup"))  # the weights live with the model

    def _place(self, weights: torch.Tensor) -> None:
        """(Re)create the weights and their optimizer; before the first step it has no state."""
        self.weights = nn.Parameter(weights)
        self.optimizer = torch.optim.SGD([self.weights], lr=self.config.lr, momentum=self.config.momentum)

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert self.last_layer is not None
        values = torch.stack([loss.detach().float() for loss in losses])
        if self.initial is None:
            self.initial = values.clamp_min(1e-8)
        current = self.weights.detach().clone()
        norms = flat_gradients(losses, [self.last_layer]).norm(dim=1)
        self.weights.grad = gradnorm_weight_gradient(current, norms, values, self.initial)
        for group in self.optimizer.param_groups:
            group["lr"] = context.lr
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        with torch.no_grad():
            clamped = self.weights.clamp_min(FLOOR)
            self.weights.copy_(clamped * len(losses) / clamped.sum())
        return Direction(None, current, current)

    def state(self) -> object:
        return {"weights": self.weights.detach(), "initial": self.initial, "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: object) -> None:
        restored = state
        with torch.no_grad():
            self.weights.copy_(restored["weights"])
        self.initial = None if restored["initial"] is None else restored["initial"].to(self.weights.device)
        self.optimizer.load_state_dict(restored["optimizer"])


METHOD = trusted(
    "gradnorm",
    __file__,
    lambda config, tasks: GradNormCombiner(config, tasks),
    "gradient normalisation, alpha 1.5 (Chen et al. 2018)",
    "gradient",
)
