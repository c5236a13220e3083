"""IGBv1, the heuristic improvable gap balancing (Dai, Fei and Lu, "Improvable Gap Balancing
for Multi-Task Learning", UAI 2023; not the reinforcement-learning IGBv2), following the
authors' code (YanqiDai/IGB4MTL: methods/loss_weight_methods.py
`ImprovableGapBalancing_v1`, and the `base_losses` bookkeeping of
experiments/nyuv2/trainer.py and experiments/quantum_chemistry/trainer.py with the default
`--base_epoch 1` of experiments/utils.py). LibMTL's IGBv1 file was not available to check.

Rule: the loss is scale-invariant, total = sum_i w_i log L_i, with w_i = 1 until base losses
exist. The base losses B_i are the plain averages of each task's raw training loss over the
steps of epoch BASE_EPOCH = 1 (0-based: the second epoch, the authors' default; the code
calls this "the first epoch" only when `--base_epoch 0` is given); they are set when that
epoch ends. From then on, every step: w = T softmax(L / B) with L this batch's (detached)
losses: the improvable gap of task i is its loss relative to its base loss, and the tasks
furthest from done get the most weight. So the first two epochs train on sum_i log L_i.
A run that starts past epoch BASE_EPOCH with no state (a resume that lost it) collects its
base losses over its own first epoch instead.
Heads and shared layers alike are trained on the total (a loss-level method).
Scale: d total / d L_i = w_i / L_i with sum_i w_i = T: a sum of log-loss gradients, each
task's gradient divided by its own loss (as `scale-invariant`), then reweighted.
Reported weights: w_i / L_i, d total / d L_i. Extras: none.
Cost per step: none beyond `equal` (the averages are summed on the device, never read).
Deviations: log(L_i + 1e-8), as `scale-invariant` and DB-MTL, where the authors take
log(L_i) (a batch loss of exactly 0 would make the run NaN).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from harness.api import Combiner, StepContext, StepResult, to_device

BASE_EPOCH = 1


def igb_weights(values: torch.Tensor, base: torch.Tensor | None) -> torch.Tensor:
    """w: ones before the base losses exist, then T softmax(L / B)."""
    if base is None:
        return torch.ones_like(values)
    return values.shape[0] * torch.softmax(values / base, dim=0)


class IGBCombiner(Combiner):
    def __init__(self, tasks: int = 2) -> None:
        self.sums = torch.zeros(tasks)  # sum of each task's loss over the base epoch's steps
        self.count = 0
        self.base: torch.Tensor | None = None
        self.base_epoch: int | None = None  # BASE_EPOCH, or a later first epoch seen
        self.device_like = self.sums

    def attach(self, model: nn.Module, seed: int) -> None:
        self.device_like = next(model.parameters())
        self.sums = to_device(self.sums, self.device_like, "setup")

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        if self.base_epoch is None:
            self.base_epoch = max(BASE_EPOCH, context.epoch)
        if self.base is None and context.epoch > self.base_epoch:
            self.base = self.sums / max(self.count, 1)
        stacked = torch.stack(losses)
        values = stacked.detach().float()
        weights = igb_weights(values, self.base)
        if self.base is None and context.epoch == self.base_epoch:
            self.sums = self.sums + values
            self.count += 1
        total = (weights.to(stacked.dtype) * torch.log(stacked + 1e-8)).sum()  # guarded, as scale-invariant
        total.backward()
        return StepResult(values.sum(), weights / values)

    def state(self) -> object:
        return {"sums": self.sums, "count": self.count, "base": self.base, "base_epoch": self.base_epoch}

    def load_state(self, state: object) -> None:
        restored: dict = state  # type: ignore[assignment]
        self.sums = to_device(restored["sums"], self.device_like, "setup")
        self.count = int(restored["count"])
        base = restored["base"]
        self.base = None if base is None else to_device(base, self.device_like, "setup")
        epoch = restored["base_epoch"]
        self.base_epoch = None if epoch is None else int(epoch)


METHOD = trusted(
    "igb",
    __file__,
    lambda config, tasks: IGBCombiner(tasks),
    "improvable gap balancing v1 on log losses (Dai et al. 2023)",
    "loss",
)
