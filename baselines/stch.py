"""STCH, smooth Tchebycheff scalarization (Lin, Zhang, Yang, Liu, Wang and Zhang, "Smooth
Tchebycheff Scalarization for Multi-Objective Optimization", ICML 2024), mu = 1.0 and 4
warm-up epochs, as the authors' multi-task code (Xi-L/STCH,
STCH_MTL/LibMTL/weighting/STCH.py, defaults --STCH_mu 1.0 and --STCH_warmup_epoch 4 in
STCH_MTL/LibMTL/config.py; LibMTL's LibMTL/weighting/STCH.py is the same code).

Rule, with epochs counted from 0 (as LibMTL's trainer, and this harness, count them):
- epochs before the warm-up epoch (0 to 3): the model is trained on sum_i log(L_i + 1e-20);
- the warm-up epoch itself (4): the same, and the batch losses are averaged over the
  epoch into the nadir vector z (the reference's `average_loss / average_loss_count`);
- later epochs: on the paper's eq. 5 with unit preferences, applied to log-normalised
  losses and multiplied by T as the reference does:
      T * mu * log sum_i exp(log(L_i / z_i + 1e-20) / mu).
  (The reference subtracts the detached maximum inside the exponentials, which changes
  the value, not the gradient.)
So the weights d total / d L_i are 1 / (L_i + 1e-20) during the warm-up and then
T p_i / (z_i (L_i / z_i + 1e-20)), p = softmax(log(L / z + 1e-20) / mu); with mu = 1,
p_i = (L_i / z_i) / sum_j (L_j / z_j) and the weights are T / (z_i sum_j L_j / z_j).
The model's gradients are those of that total, through the heads and the trunk alike.
Not in the reference: if training resumes after the warm-up epoch without this state
(no nadir vector and no warm-up losses), the first batch's losses stand in for z (the
reference would divide by a count of zero).
Scale: log-loss gradients, grad L_i / L_i, summed: sum-like in log units. After the
warm-up, the weights' L-weighted sum is sum_i w_i L_i = T (a T-task sum of unit log-loss
gradients, shifted towards the tasks furthest above their nadir).
Reported weights: d total / d L_i.
Cost per step: none beyond `equal` (the losses' values stay on the device: no wait).
State: the warm-up epoch's loss sum and batch count, and the nadir vector.
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from harness.api import Combiner, StepContext, StepResult, to_device

MU = 1.0
WARMUP_EPOCHS = 4  # the reference's STCH_warmup_epoch: the index of the epoch that finds z
EPS = 1e-20


class STCHCombiner(Combiner):
    def __init__(self, mu: float = MU, warmup_epochs: int | None = None) -> None:
        self.mu = mu
        self.warmup_epochs = WARMUP_EPOCHS if warmup_epochs is None else warmup_epochs
        self.loss_sum: torch.Tensor | None = None  # the warm-up epoch's summed batch losses
        self.count = 0
        self.nadir: torch.Tensor | None = None

    def attach(self, model: nn.Module, seed: int) -> None:
        pass

    def weights(self, values: torch.Tensor, epoch: int) -> torch.Tensor:
        """d total / d L_i at these loss values (float32, where the losses are); updates the
        warm-up sums and, at the first step after the warm-up, fixes the nadir vector."""
        if epoch <= self.warmup_epochs:
            if epoch == self.warmup_epochs:
                self.loss_sum = values if self.loss_sum is None else to_device(self.loss_sum, values) + values
                self.count += 1
            return 1.0 / (values + EPS)
        if self.nadir is None:
            self.nadir = values if self.loss_sum is None or self.count == 0 else self.loss_sum / self.count
        nadir = self.nadir = to_device(self.nadir, values)
        ratio = values / nadir + EPS
        p = torch.softmax(torch.log(ratio) / self.mu, dim=0)
        return len(values) * p / (nadir * ratio)

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        values = torch.stack([loss.detach().float() for loss in losses])
        weights = self.weights(values, context.epoch)
        torch.autograd.backward(losses, grad_tensors=[w.to(loss.dtype) for w, loss in zip(weights, losses)])
        return StepResult(values.sum(), weights)

    def state(self) -> object:
        return {"loss_sum": self.loss_sum, "count": self.count, "nadir": self.nadir}

    def load_state(self, state: object) -> None:
        assert isinstance(state, dict)
        self.loss_sum, self.count, self.nadir = state["loss_sum"], int(state["count"]), state["nadir"]


METHOD = trusted(
    "stch",
    __file__,
    lambda config, tasks: STCHCombiner(),
    "smooth Tchebycheff on log losses, mu 1, 4 warm-up epochs (Lin et al. 2024)",
    "loss",
)
