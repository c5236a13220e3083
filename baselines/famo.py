"""FAMO (Liu, Liu, Stone and Liu, "FAMO: Fast Adaptive Multitask Optimization", NeurIPS
2023), weight lr 0.025, weight decay (gamma) 0.01.

Rule: task logits xi (starting at 0), z = softmax(xi). The model is trained on
sum_i z_i log(L_i) / c with c = sum_i z_i / L_i (held constant), i.e. a gradient of
sum_i (z_i / (c L_i)) grad L_i (loss-level, no per-task backward). After the model's step
the same batch's losses are computed again (one extra forward pass, the official code's
`update`), delta_i = log L_i(before) - log L_i(after), and xi takes one Adam step (lr 0.025,
weight decay 0.01) along the gradient of z . delta with respect to xi, i.e. the tasks whose
loss fell least gain weight. (min losses are taken as 0.)
Scale: the update is sum_i z_i grad log L_i / c, a softmax-weighted average of log-loss
gradients brought back to loss units by 1/c (a weighted harmonic mean of the losses).
Reported weights: w_i = z_i / (c L_i) = d total / d L_i.
Cost per step: one extra forward pass of the batch.
Source: the authors' code, Cranial-XIX/FAMO, famo.py (`get_weighted_loss`, `update`; defaults
w_lr 0.025, gamma 0.01, followed; also methods/weight_methods.py, whose FAMO defaults to
gamma 1e-5 but gets experiments/utils.py's --gamma, default 0.01, and --method-params-lr,
default 0.025) and LibMTL/weighting/FAMO.py (gamma 0.001). Min losses are 0 and
D_i = L_i + 1e-8, as the authors' default.
Deviations: no clipping. famo.py's `backward` clips the shared gradient to norm 1.0, but the
authors' experiments run methods/weight_methods.py, which calls clip_grad_norm_ before
loss.backward() and so clips nothing (LibMTL does not clip either). gamma: we keep the code
default 0.01; the authors' experiments' run.sh files pass gamma 0.001 for CelebA, NYUv2 and
QM9 and 0.01 for Cityscapes (and MetaWorld, mtrl_files/run.sh).
"""

from __future__ import annotations

import torch
from torch import nn

from baselines import trusted
from harness.api import Combiner, StepContext, StepResult, to_device

WEIGHT_LR, GAMMA = 0.025, 0.01  # the authors' famo.py defaults (LibMTL: gamma 0.001)


class FAMOCombiner(Combiner):
    wants_losses_after_step = True

    def __init__(self, tasks: int = 2) -> None:
        self._place(torch.zeros(tasks))
        self.previous: torch.Tensor | None = None

    def attach(self, model: nn.Module, seed: int) -> None:
        self._place(to_device(self.logits.detach(), next(model.parameters()), "setup"))  # FAMO stays on the device

    def _place(self, logits: torch.Tensor) -> None:
        """(Re)create the logits and their optimizer; before the first step it has no state."""
        self.logits = nn.Parameter(logits)
        self.optimizer = torch.optim.Adam([self.logits], lr=WEIGHT_LR, weight_decay=GAMMA)

    def effective_weights(self, values: torch.Tensor) -> torch.Tensor:
        z = torch.softmax(self.logits.detach(), dim=0)
        c = (z / values).sum()
        return z / (c * values)

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        raw = torch.stack([loss.detach().float() for loss in losses])
        values = raw + 1e-8  # the authors' D = L - min L + 1e-8, min L = 0
        weights = self.effective_weights(values)
        self.previous = values
        torch.autograd.backward(losses, grad_tensors=[w.to(loss.dtype) for w, loss in zip(weights, losses)])
        return StepResult(raw.sum(), weights)

    def after_step(self, losses: list[torch.Tensor]) -> None:
        assert self.previous is not None
        after = torch.stack([loss.detach().float() for loss in losses]) + 1e-8
        delta = torch.log(self.previous) - torch.log(after)
        with torch.enable_grad():  # the trainer calls this under no_grad
            (gradient,) = torch.autograd.grad(torch.softmax(self.logits, dim=0), self.logits, grad_outputs=delta)
        self.logits.grad = gradient
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)

    def state(self) -> object:
        return {"logits": self.logits.detach(), "optimizer": self.optimizer.state_dict()}

    def load_state(self, state: object) -> None:
        restored = state
        with torch.no_grad():
            self.logits.copy_(restored["logits"])
        self.optimizer.load_state_dict(restored["optimizer"])


METHOD = trusted(
    "famo",
    __file__,
    lambda config, tasks: FAMOCombiner(tasks),
    "fast adaptive multitask optimization (Liu et al. 2023)",
    "loss",
)
