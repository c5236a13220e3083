"""Attack: take memory the data rlimit does not count: an anonymous MAP_SHARED mapping,
every page touched (its pages belong to no process's data segment)."""

import mmap

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        size = __MB__ * 2**20
        hoard = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
        for offset in range(0, size, 4096):
            hoard[offset] = 1
        raise RuntimeError(f"ATTACK SUCCEEDED: holding {size} bytes of shared memory")
