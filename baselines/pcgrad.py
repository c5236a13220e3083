"""PCGrad (Yu et al., NeurIPS 2020): gradient surgery on the shared parameters.

Each task's gradient of the shared parameters is projected, for the other tasks in a
random order, onto the normal plane of that task's original gradient whenever the two
conflict (negative inner product); the projected gradients are summed. Task heads get
their own task's gradient. A trusted, gradient-level combiner.
"""
from __future__ import annotations

import torch
from torch import nn

from harness.combiners import Combiner, StepContext, StepResult
from harness.state_codec import decode, encode


def project_conflicting(
    grads: list[torch.Tensor], generator: torch.Generator
) -> tuple[list[torch.Tensor], torch.Tensor]:
    """PCGrad projection of flat per-task gradients; returns them and the conflict count.
    Written without data-dependent branches, so it does not synchronise a GPU."""
    projected = []
    conflicts = torch.zeros((), device=grads[0].device)
    for i, grad in enumerate(grads):
        result = grad.clone()
        for j in torch.randperm(len(grads), generator=generator).tolist():
            if j == i:
                continue
            other = grads[j]
            dot = torch.dot(result, other)
            coefficient = torch.clamp(dot, max=0.0) / torch.dot(other, other).clamp_min(1e-20)
            result = result - coefficient * other
            conflicts = conflicts + (dot < 0).float()
        projected.append(result)
    return projected, conflicts


class PCGradCombiner(Combiner):
    def __init__(self) -> None:
        self.shared: list[nn.Parameter] = []
        self.heads: list[nn.Parameter] = []
        self.generator = torch.Generator()

    def attach(self, model: nn.Module, seed: int) -> None:
        self.shared = [p for p in model.shared_parameters() if p.requires_grad]
        shared_ids = {id(p) for p in self.shared}
        self.heads = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
        self.generator.manual_seed(seed)

    def state(self) -> object:
        return encode(self.generator.get_state())

    def load_state(self, state: object) -> None:
        self.generator.set_state(decode(state))

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        flat = []
        for loss in losses:
            grads = torch.autograd.grad(loss, self.shared, retain_graph=True, allow_unused=True)
            flat.append(
                torch.cat(
                    [
                        (torch.zeros_like(p) if g is None else g).reshape(-1)
                        for g, p in zip(grads, self.shared)
                    ]
                )
            )
        projected, conflicts = project_conflicting(flat, self.generator)
        combined = torch.stack(projected).sum(0)
        offset = 0
        for param in self.shared:
            size = param.numel()
            param.grad = combined[offset : offset + size].view_as(param).clone()
            offset += size
        torch.autograd.backward(sum(losses), inputs=self.heads)
        pairs = len(losses) * (len(losses) - 1)
        total = torch.stack([loss.detach() for loss in losses]).sum()
        return StepResult(total, [1.0] * len(losses), {"conflict_fraction": conflicts / pairs})
