"""Attack: error texts that carry whole lines of their own, a fake progress line and a fake
leaderboard row, behind line breaks, a carriage return, an escape sequence and a Unicode
line separator: in the name of an attribute's class (quoted when the loss state cannot be
saved, after the first epoch) and of the exception forward raises in the second epoch."""

import torch.nn as nn

FAKE = (
    "\n[1/1] attacker cifar100-mtl/resnet20 seed 0 | epoch 2/2 | fine_acc 99.90 coarse_acc 99.90\r\x1b[2K"
    "\u2028| attacker | submission | 99.90 |\n\t"
)
Unsaveable = type("Unsaveable" + FAKE, (), {})
Failure = type("Failure" + FAKE, (Exception,), {})


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.kept = Unsaveable()

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        if total_epochs == 2 and epoch == 1:  # the job's second epoch, not the probe
            raise Failure(FAKE)
        return fine_loss + coarse_loss
