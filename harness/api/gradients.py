"""Shared machinery of gradient-level methods: the trusted baselines and the sandboxed
gradient-level submissions (harness/methods/gradient_level.py) alike.

A method sees the per-task gradients of the shared parameters as a (T, P) matrix (or of
the shared representation z, the heads' input, as a (T, B*D) matrix for the "-UB" style
methods), computes a direction for the shared parameters, and says how each head's own
loss gradient is scaled. Heads only ever get their own task's gradient.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch import nn

from harness.api.method import Combiner, StepContext, StepResult
from harness.api.seeds import stream_seed
from harness.api.transfer import to_device, to_host


@dataclass
class Direction:
    """A method's answer for one step. Tensors may live on the host (a solve on the Gram
    matrix) or the device; the base class moves `loss_weights` over in one asynchronous
    copy, and `reported` and tensor `extras` are summed where they are until the epoch ends."""

    shared: torch.Tensor | None  # flat gradient for the shared parameters; None: backprop `loss_weights`
    loss_weights: torch.Tensor | None  # (T,) scale of each task's loss for the heads (and shared when
    # `shared` is None); None: every loss unscaled
    reported: list[float] | torch.Tensor  # the effective task weights written to the run record
    extras: dict[str, float | torch.Tensor] = field(default_factory=dict)


def host_gram(grads: torch.Tensor) -> torch.Tensor:
    """The (T, T) Gram matrix of the task gradients, in float64 on the host: the step's one
    wait on the device. Solvers then branch and iterate on the host for free."""
    return to_host(grads.double() @ grads.double().T, "step")


def flat_gradients(losses: list[torch.Tensor], params: Sequence[torch.Tensor]) -> torch.Tensor:
    """(T, P): each loss's gradient with respect to `params`, flattened (zeros where unused)."""
    rows = []
    for loss in losses:
        grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
        rows.append(
            torch.cat([(torch.zeros_like(p) if g is None else g).reshape(-1).float() for g, p in zip(grads, params)])
        )
    return torch.stack(rows)


# the random stream of a gradient-level method (PCGrad's order, GradDrop's draws), trusted or
# sandboxed alike: derived from the job's seed, apart from the data order's stream
METHOD_STREAM = "gradient-method"


class SharedGradientCombiner(Combiner):
    """Base class: subclasses implement `direction`; this class wires the gradients."""

    uses_representation = False  # True: gradients w.r.t. the heads' input z instead of parameters
    needs_shared_gradients = True
    max_shared_norm: float | None = None  # clip the shared gradient to this total norm (Nash-MTL)

    def __init__(self) -> None:
        self.shared: list[nn.Parameter] = []
        self.heads: list[nn.Parameter] = []
        self.representation: torch.Tensor | None = None
        self.generator = torch.Generator()
        self._layout_buffers: dict[int, torch.Tensor] = {}  # shared gradients in their parameter's layout

    def attach(self, model: nn.Module, seed: int) -> None:
        self.shared = [p for p in model.shared_parameters() if p.requires_grad]  # type: ignore[operator]
        shared_ids = {id(p) for p in self.shared}
        self.heads = [p for p in model.parameters() if p.requires_grad and id(p) not in shared_ids]
        self.generator.manual_seed(stream_seed(seed, METHOD_STREAM))
        if self.uses_representation:
            model.heads[0].register_forward_pre_hook(self._keep_representation)  # type: ignore[index,union-attr]

    def _keep_representation(self, module: nn.Module, inputs: tuple[torch.Tensor, ...]) -> None:
        self.representation = inputs[0]

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        raise NotImplementedError

    def prepare_losses(self, losses: list[torch.Tensor]) -> list[torch.Tensor]:
        """The losses the method works on (IMTL scales them, DB-MTL takes logs)."""
        return losses

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        worked = self.prepare_losses(losses)
        grads = None
        if self.needs_shared_gradients:
            if self.uses_representation:
                assert self.representation is not None, "the model's heads were not called"
                grads = flat_gradients(worked, [self.representation])
            else:
                grads = flat_gradients(worked, self.shared)
        result = self.direction(worked, grads, context)
        stacked = torch.stack(worked)
        if result.loss_weights is None:
            weighted = stacked.sum()
        else:
            weighted = (stacked * to_device(result.loss_weights.to(stacked.dtype), stacked)).sum()
        if result.shared is None:
            torch.autograd.backward(weighted, inputs=[*self.shared, *self.heads, *self.extra_parameters()])
        else:
            self.set_shared_grad(result.shared)
            torch.autograd.backward(weighted, inputs=[*self.heads, *self.extra_parameters()])
        reported = result.reported
        if self.max_shared_norm is not None:
            clip = self.clip_shared(self.max_shared_norm)
            reported = to_device(torch.as_tensor(reported, dtype=torch.float32), clip) * clip
        total = torch.stack([loss.detach() for loss in losses]).sum()
        return StepResult(total, reported, result.extras)

    def clip_shared(self, max_norm: float) -> torch.Tensor:
        """Clip the shared parameters' gradient to total norm `max_norm` with torch's
        `clip_grad_norm_` (as the reference code does); return the factor it applied,
        min(1, max_norm / (norm + 1e-6)), torch's formula, as a tensor: no device wait."""
        total = torch.nn.utils.clip_grad_norm_(self.shared, max_norm)
        return torch.clamp(max_norm / (total + 1e-6), max=1.0)

    def extra_parameters(self) -> list[torch.Tensor]:
        """The method's own trainable tensors that get gradients from the weighted loss."""
        return []

    def set_shared_grad(self, flat: torch.Tensor) -> None:
        """The shared parameters' gradients become views of `flat` (a fresh tensor each
        step): no copy per parameter. The optimizer only reads them (SGD's weight decay and
        momentum make new tensors), and the trainer drops them at the next zero_grad. A
        parameter laid out otherwise (channels-last convolution weights: CUDA's fused SGD
        requires gradients strided like their parameters) gets a buffer in its own layout,
        kept across steps, and all of these are filled by one multi-tensor copy."""
        offset = 0
        targets, sources = [], []
        for index, param in enumerate(self.shared):
            size = param.numel()
            piece = flat[offset : offset + size].view_as(param)
            if piece.dtype != param.dtype or piece.stride() != param.stride():
                if index not in self._layout_buffers:
                    self._layout_buffers[index] = torch.empty_like(param)
                targets.append(self._layout_buffers[index])
                sources.append(piece)
                piece = self._layout_buffers[index]
            param.grad = piece
            offset += size
        if targets:
            torch._foreach_copy_(targets, sources)
