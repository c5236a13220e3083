"""Attack: compute at every training call, each call well within its time-out, to stall
the benchmark (quiet in the load-time probe, which calls with total_epochs=10)."""

import time

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        if total_epochs != 10:
            end = time.process_time() + __BUSY__
            while time.process_time() < end:
                pass
        return fine_loss + coarse_loss
