"""Equal weighting: the plain sum of the task losses (the seed's default), for any number of tasks.

Source: linear scalarisation with unit weights, as LibMTL/weighting/EW.py (median-research-group/LibMTL), whose
code sums the losses with weight 1 (its docstring says 1 / T).
Deviations: none.
"""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, *args):  # loss_1, ..., loss_T, epoch, total_epochs
        *losses, epoch, total_epochs = args
        return sum(losses)
