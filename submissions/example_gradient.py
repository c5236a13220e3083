"""An example gradient-level submission: equal-norm averaging of the task gradients.

The file states its format by its class. A `GradientCombiner` receives, at every training
step, the gradients of the shared parameters for each task as one (T, P) float32 tensor
(and the task losses, the epoch, the number of epochs and the step) and returns either
the shared parameters' gradient, shape (P,), or one coefficient per task, shape (T,). Each
task head always gets its own task's gradient. (A `GramCombiner` gets only the (T, T) Gram
matrix and returns coefficients: cheaper, and enough for MGDA, Nash-MTL or CAGrad.)

This one rescales every task gradient to the tasks' mean norm before summing them, so a
task with large gradients cannot drown the others in the shared trunk.
"""


class GradientCombiner:
    def __init__(self, seed: int) -> None:
        self.seed = seed  # the job's seed, for methods that draw random numbers

    def combine(self, grads, losses, epoch, total_epochs, step):
        norms = grads.norm(dim=1).clamp_min(1e-12)
        return (grads * (norms.mean() / norms)[:, None]).sum(0)
