"""Attack: read /etc/passwd."""

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        try:
            with open("/etc/passwd") as handle:
                handle.readline()
        except OSError:
            return fine_loss + coarse_loss
        raise RuntimeError("ATTACK SUCCEEDED: read /etc/passwd")
