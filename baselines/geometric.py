"""Geometric loss strategy (Chennupati, Sistu, Yogamani and Rawashdeh, "MultiNet++",
CVPR Workshops 2019).

total = (prod_i (L_i + 1e-8))^(1/T), computed as exp(mean_i log(L_i + 1e-8)): the 1e-8
(DB-MTL's and LibMTL's guard on a log of a loss) keeps a batch loss of exactly 0 finite.
Scale: d total / d L_i = total / (T (L_i + 1e-8)): each task is weighted by the geometric
mean over T times its own loss, so a task's gradient is normalised by its loss level.
Cost per step: none beyond `equal`.
Source: the paper's geometric loss strategy (the T-th root of the product of the task losses); code:
LibMTL/weighting/GLS.py, `torch.pow(losses.prod(), 1./T)` (no authors' code found).
Deviations: the 1e-8 inside the log (LibMTL has no guard: a batch loss of 0 makes its gradient non-finite); computed
as exp(mean log) rather than a power of the product, the same value otherwise.
"""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, *args):  # loss_1, ..., loss_T, epoch, total_epochs
        losses = torch.stack(args[:-2])
        return torch.exp(torch.log(losses + 1e-8).mean())
