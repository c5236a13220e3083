"""Attack: answer a step, on the oracle's own socket and before the oracle does, with a
weight that is an integer of __DIGITS__ digits: past the float range (400), past the
4,300 digits Python converts from decimal text (5,000)."""

import gc
import socket
import struct

import torch.nn as nn


def current_request():
    """The step request the oracle is answering (None in the probe, which has none)."""
    steps = [o for o in gc.get_objects() if isinstance(o, dict) and o.get("op") == "step" and "id" in o]
    return max(steps, key=lambda o: o["id"]) if steps else None


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        request = current_request()
        if request is not None:
            weight = "9" * __DIGITS__  # written out as JSON text: no conversion limit applies
            body = f'{{"id": {request["id"]}, "total": 1.0, "weights": [{weight}, 1.0]}}'.encode()
            for obj in gc.get_objects():
                if isinstance(obj, socket.socket):
                    obj.sendall(struct.pack(">I", len(body)) + body)
        return fine_loss + coarse_loss
