"""Attack: close every descriptor the oracle holds (the segment's and the socket's) in the
middle of a run."""

import os


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if step == 1:
            for fd in range(3, 256):
                try:
                    os.close(fd)
                except OSError:
                    pass
        return grads.sum(0)
