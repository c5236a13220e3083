"""Equal weighting: the plain sum of the task losses (the seed's default)."""
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        return fine_loss + coarse_loss
