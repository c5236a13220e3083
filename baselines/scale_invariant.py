"""Scale-invariant loss: total = sum_i log(L_i + 1e-8) (the loss-scale part of DB-MTL, Lin
et al. 2023, with its guard: LibMTL's DB_MTL.py takes log(L + 1e-8); also "log loss"
balancing). A batch loss of exactly 0 gives a large but finite weight, not a failed run.

Multiplying any L_i by a constant leaves the gradient unchanged (up to the guard).
Scale: d total / d L_i = 1 / (L_i + 1e-8): each task's gradient is divided by its own loss.
Cost per step: none beyond `equal`.
Source: the scale-invariant baseline of Navon et al. 2022 (Nash-MTL): AvivNavon/nash-mtl, methods/weight_methods.py
`ScaleInvariantLinearScalarization`, sum_i log(L_i) with unit weights (the same class in Cranial-XIX/FAMO).
Deviations: log(L_i + 1e-8), DB-MTL's guard, where that code takes log(L_i) (a batch loss of 0 gives -inf there).
"""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, *args):  # loss_1, ..., loss_T, epoch, total_epochs
        return torch.log(torch.stack(args[:-2]) + 1e-8).sum()
