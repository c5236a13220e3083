"""Uncertainty weighting as written in the paper (Kendall, Gal and Cipolla, CVPR 2018,
eq. 7 with s = log sigma^2): total = sum_i 0.5 exp(-s_i) L_i + 0.5 s_i.

The seed's `uncertainty` baseline uses exp(-s_i) L_i + s_i, which has the same minimiser in
s (s_i = log L_i) but twice the gradient; this form halves both the loss weights and the
log-variances' gradient. s_i starts at 0 and is trained with the protocol's SGD settings.
Scale: d total / d L_i = 0.5 exp(-s_i): at the start, half of `equal`'s sum.
Cost per step: none beyond `equal`.
"""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.log_vars = nn.Parameter(torch.zeros(2))

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        losses = torch.stack([fine_loss, coarse_loss])
        return (0.5 * torch.exp(-self.log_vars) * losses + 0.5 * self.log_vars).sum()
