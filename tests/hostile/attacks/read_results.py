"""Attack: list and read the results directory."""

import os

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        try:
            names = os.listdir(__RESULTS__)
        except OSError:
            return fine_loss + coarse_loss
        raise RuntimeError(f"ATTACK SUCCEEDED: results hold {names}")
