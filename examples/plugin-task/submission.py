"""Example submission for any number of tasks (e.g. `three-heads`, which has three).

The harness calls `forward` once per training step with the task losses as scalar
tensors, positionally, then the epoch (from 0) and the number of epochs:
(loss_1, ..., loss_T, epoch, total_epochs). This one keeps the first task's weight at 1
and anneals the weights of the other (auxiliary) tasks from 1 to 0.5 over training.
"""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, *args):
        *losses, epoch, total_epochs = args
        progress = epoch / max(total_epochs - 1, 1)
        auxiliary_weight = 1.0 - 0.5 * progress
        return losses[0] + auxiliary_weight * sum(losses[1:])
