"""Attack: keep views of the shared segment and keep writing NaN into it after answering,
hoping the trainer reads the answer (or the gradients) after the check."""

import threading

import torch

views = []


def scribble():
    while True:
        for view in list(views):
            view.fill_(float("nan"))


class GradientCombiner:
    def combine(self, grads, losses, epoch, total_epochs, step):
        if not views and grads.shape[1] != 64:  # the real segment, not the probe's gradients
            width = grads.shape[1]
            table = torch.as_strided(grads, (grads.shape[0] + 1, width), (width, 1))
            views.extend([table[-1], grads])  # the answer row and the gradient rows
            threading.Thread(target=scribble, daemon=True).start()
        return grads[0].clone() + grads[1].clone()
