"""Raises at import time."""

import torch.nn as nn

raise ImportError("this submission needs a package that does not exist")


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        return fine_loss + coarse_loss
