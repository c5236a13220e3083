"""Attack: an infinite loop in forward, after the probe calls."""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        self.calls += 1
        while self.calls > 3:
            pass
        return fine_loss + coarse_loss
