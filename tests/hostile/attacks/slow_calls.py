"""Attack: sleep at every call, to stall the benchmark."""

import time

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        time.sleep(__SLEEP__)
        return fine_loss + coarse_loss
