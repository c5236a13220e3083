"""Attack: reach the network (only the test's own listener on loopback is tried)."""

import socket

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        try:
            socket.create_connection(("127.0.0.1", __PORT__), timeout=1).close()
        except OSError:
            return fine_loss + coarse_loss
        raise RuntimeError("ATTACK SUCCEEDED: connected to the host's loopback")
