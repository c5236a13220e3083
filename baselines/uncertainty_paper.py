"""Uncertainty weighting as written in the paper (Kendall, Gal and Cipolla, CVPR 2018,
eq. 7 with s = log sigma^2): total = sum_i 0.5 exp(-s_i) L_i + 0.5 s_i.

The seed's `uncertainty` baseline uses exp(-s_i) L_i + s_i, which has the same minimiser in
s (s_i = log L_i) but twice the gradient; this form halves both the loss weights and the
log-variances' gradient. s_i starts at 0 and is trained with the protocol's SGD settings.
Scale: d total / d L_i = 0.5 exp(-s_i): at the start, half of `equal`'s sum.
Cost per step: none beyond `equal`.
Source: the paper's eq. 7 (its Gaussian-likelihood form, used here for both losses, as the references do for every
task; the paper's softmax likelihood for a classification loss gives exp(-s) L + s / 2 instead, not used); code: lorenmt/mtan, im2im_pred/utils.py (`--weight uncert`), LibMTL/weighting/UW.py, and
AvivNavon/nash-mtl, methods/weight_methods.py `Uncertainty` (the same form, log-variances from 0).
Deviations: s_i starts at 0 where mtan (`logsigma`) and LibMTL's UW.py (`loss_scale`) start at -0.5 (initial weights
0.5 e^0.5 = 0.82); s takes the protocol's SGD (lr and schedule, momentum, weight decay) where mtan uses the model's
Adam (lr 1e-4) and LibMTL the model's optimizer (default Adam, lr 1e-4, weight decay 1e-5).
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
