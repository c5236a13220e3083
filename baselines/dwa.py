"""Dynamic Weight Average (Liu, Johns and Davison, CVPR 2019).

w_k(t) = K * softmax_k(r(t-1) / T), r_k(t-1) = L_k(t-1) / L_k(t-2), T = 2, where L_k(t) is
the mean unweighted loss of task k over epoch t. The first two epochs use w_k = 1.
The class keeps its own per-epoch loss history from the values it is called with.
Source: the authors' code, lorenmt/mtan, im2im_pred/utils.py `multi_task_trainer` (`--weight dwa`, `--temp 2.0` in
im2im_pred/model_segnet_mtan.py; epoch means of the training batches' losses); LibMTL/weighting/DWA.py.
Deviations: none (the authors' code is written for 3 tasks; this is its T-task form, as LibMTL's).
"""

import torch
import torch.nn as nn

TEMPERATURE = 2.0


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.epoch_means = []  # mean losses of finished epochs, oldest first
        self.current_epoch = None
        self.running_sum = None
        self.running_count = 0
        self.weights = None  # w_k = 1 until two epochs have finished

    def _close_epoch(self):
        self.epoch_means.append(self.running_sum / self.running_count)
        if len(self.epoch_means) >= 2:
            ratio = self.epoch_means[-1] / self.epoch_means[-2]
            self.weights = len(ratio) * torch.softmax(ratio / TEMPERATURE, dim=0)

    def forward(self, *args):  # loss_1, ..., loss_T, epoch, total_epochs
        *task_losses, epoch, total_epochs = args
        losses = torch.stack(task_losses)
        if self.current_epoch is not None and epoch != self.current_epoch:
            self._close_epoch()
            self.running_sum, self.running_count = None, 0
        self.current_epoch = epoch
        values = losses.detach()
        self.running_sum = values if self.running_sum is None else self.running_sum + values
        self.running_count += 1
        if self.weights is None:
            return losses.sum()
        return (self.weights * losses).sum()
