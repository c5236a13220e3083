"""Attack: read the test labels of the data set."""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        try:
            with open(__DATA_TEST__, "rb") as handle:
                handle.read(16)
        except OSError:
            return fine_loss + coarse_loss
        raise RuntimeError("ATTACK SUCCEEDED: read the test split")
