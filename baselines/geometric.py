"""Geometric loss strategy (Chennupati, Sistu, Yogamani and Rawashdeh, "MultiNet++",
CVPR Workshops 2019).

total = (prod_i L_i)^(1/T), computed as exp(mean_i log L_i).
Scale: d total / d L_i = total / (T L_i): each task is weighted by the geometric mean over
T times its own loss, so a task's gradient is normalised by its loss level.
Cost per step: none beyond `equal`.
"""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, *args):  # loss_1, ..., loss_T, epoch, total_epochs
        losses = torch.stack(args[:-2])
        return torch.exp(torch.log(losses).mean())
