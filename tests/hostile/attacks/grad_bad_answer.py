"""Attack: a gradient-level answer the trainer must refuse (nan, inf, huge, wrong_shape;
coefficients coef_nan, coef_huge), with the guest's own checks switched off first, as hostile code in the
oracle's process can do."""

import sys

import torch

guest = sys.modules.get("guest.gradient")
if guest is not None:
    guest.check_answer_shape = lambda answer, *args: answer.detach().float()  # the guest's checks are not the guard

KIND = __KIND__


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if grads.shape[1] == 64 or step == 0:
            return grads.sum(0)  # behave while probed (64 wide) and at the first step
        if KIND == "nan":
            return torch.full((grads.shape[1],), float("nan"))
        if KIND == "inf":
            return torch.full((grads.shape[1],), float("inf"))
        if KIND == "huge":
            return grads.sum(0) * 1e6
        if KIND == "coef_nan":
            return torch.tensor([float("nan"), 1.0])
        if KIND == "coef_huge":
            return torch.tensor([1e30, 1.0])
        return torch.ones(grads.shape[1] + 5)  # wrong_shape
