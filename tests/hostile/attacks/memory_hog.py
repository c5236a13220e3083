"""Attack: take memory past the sandbox's limit, 128 MiB at a time, every page touched."""

import torch
import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        hoard = [torch.ones(128 * 2**20, dtype=torch.uint8) for _ in range(__CHUNKS__)]
        raise RuntimeError(f"ATTACK SUCCEEDED: holding {sum(t.numel() for t in hoard)} bytes")
