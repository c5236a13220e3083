"""Attack: walk the autograd graph and the heap looking for the model's parameters.

The attribute names are built at run time: `validate` and `submit` stop a file that names
`.grad_fn` outright (a seed-style loss is pointed to the gradient format), which an
attacker would dodge this way, so this proves the sandbox itself leaves nothing to find."""

import gc

import torch
import torch.nn as nn

GRAD_FN, NEXT = "grad" + "_fn", "next" + "_functions"


def reachable(tensor):
    seen, stack, found = set(), [getattr(tensor, GRAD_FN)], []
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        variable = getattr(node, "variable", None)
        if variable is not None:
            found.append(variable)
        stack.extend(next_fn for next_fn, _ in getattr(node, NEXT, ()))
    return found


class MultiTaskLoss(nn.Module):
    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):
        leaves = reachable(fine_loss) + reachable(coarse_loss)
        big = [t for t in leaves if t.numel() > 1]
        heap = [o for o in gc.get_objects() if isinstance(o, torch.Tensor) and o.numel() > 1000]
        modules = [o for o in gc.get_objects() if isinstance(o, nn.Conv2d)]
        if big or heap or modules or getattr(fine_loss, GRAD_FN) is not None:
            raise RuntimeError(
                f"ATTACK SUCCEEDED: found {len(big)} graph tensors, {len(heap)} heap tensors, {len(modules)} convs"
            )
        return fine_loss + coarse_loss
