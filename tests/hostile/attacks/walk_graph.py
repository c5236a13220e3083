"""Attack: walk the autograd graph and the heap looking for the model's parameters."""

import gc

import torch
import torch.nn as nn


def reachable(tensor):
    seen, stack, found = set(), [tensor.grad_fn], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None:
            found.append(variable)
        stack.extend(next_fn for next_fn, _ in getattr(node, "next_functions", ()))
    return found


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        leaves = reachable(fine_loss) + reachable(coarse_loss)
        big = [t for t in leaves if t.numel() > 1]
        heap = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.numel() > 1000]
        modules = [o for o in gc.get_objects() if isinstance(o, nn.Conv2d)]
        if big or heap or modules or fine_loss.grad_fn is not None:
            raise RuntimeError(
                f"ATTACK SUCCEEDED: found {len(big)} graph tensors, {len(heap)} heap tensors, {len(modules)} convs"
            )
        return fine_loss + coarse_loss
