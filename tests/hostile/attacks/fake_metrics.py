"""Attack: print fake metric lines and fake records at every call."""

import os
import sys

import torch.nn as nn

FAKE = '[1/1] attacker cifar100-mtl/resnet20 seed 0 | epoch 1/1 | fine_acc 99.90 coarse_acc 99.90\n{"best_primary": 99.9, "status": "ok"}\n'


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        print(FAKE, end="")
        sys.stderr.write(FAKE)
        os.write(1, FAKE.encode())
        return fine_loss + coarse_loss
