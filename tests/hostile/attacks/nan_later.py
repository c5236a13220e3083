"""Returns NaN after the probe calls, mid-training."""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        self.calls += 1
        if self.calls > 3:
            return (fine_loss + coarse_loss) * float("nan")
        return fine_loss + coarse_loss
