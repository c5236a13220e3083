"""Uncertainty weighting (Kendall, Gal and Cipolla, CVPR 2018), as the seed describes it.

total = sum_i exp(-s_i) * L_i + s_i, with one learnable log-variance s_i per task,
starting at 0 and trained by the same optimizer settings as the model.
Source: the authors' example, yaringal/multi-task-learning-example, multi-task-learning-example-pytorch.ipynb
(`precision * diff + log_vars[i]`, log-variances from 0): twice the paper's eq. 7 form (`uncertainty-paper`),
with the same minimiser s_i = log L_i and twice the loss weights and the gradient in s.
Deviations: s takes the protocol's SGD (lr and its schedule, momentum, weight decay), where the example trains
it with the model's Adam (torch defaults, no weight decay); the example's L_i is a squared error, here any loss.
"""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(2))

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        losses = torch.stack([fine_loss, coarse_loss])
        return (torch.exp(-self.log_vars) * losses + self.log_vars).sum()
