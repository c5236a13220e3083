"""Attack: a gradient-level call that never ends in time."""

import time


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if step == 1:
            time.sleep(60)
        return grads.sum(0)
