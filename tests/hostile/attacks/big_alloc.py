"""Attack: allocate 50 GB."""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        hog = torch.ones(50 * 2**30, dtype=torch.uint8)
        raise RuntimeError(f"ATTACK SUCCEEDED: allocated {hog.numel()} bytes")
