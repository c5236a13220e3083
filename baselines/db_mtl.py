"""DB-MTL (Lin, Ye, Xu, Shi and Zhang, "Dual-Balancing Multi-Task Learning", 2023),
beta = 0.9, beta_sigma = 0.5.

Loss-scale balancing: every task works on log(L_i + 1e-8). Gradient-magnitude balancing:
with g_i the gradient of log(L_i + 1e-8) with respect to the shared parameters and step t
(from 1), the buffer is h_i = g_i + beta / t^beta_sigma (h_i - g_i) (an EMA whose decay
fades), and the shared update is sum_i (max_j |h_j| / |h_i|) h_i: every task's buffered
gradient is scaled to the largest norm. Heads get the gradients of their own log-losses.
Scale: a sum of T gradients each of the largest task's norm (of log-losses).
Reported weights: max_j |h_j| / |h_i|.
Cost per step: T backward passes through the shared parameters and a (T, P) buffer (kept
in checkpoints as tensors).
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext

BETA, BETA_SIGMA = 0.9, 0.5


def db_mtl_update(
    grads: torch.Tensor, buffer: torch.Tensor | None, step: int, beta: float = BETA, sigma: float = BETA_SIGMA
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(shared update, scale of each task, new buffer) at step `step` (1-based)."""
    previous = torch.zeros_like(grads) if buffer is None else buffer
    buffer = grads + beta / step**sigma * (previous - grads)
    norms = buffer.norm(dim=1)
    scales = norms.max() / (norms + 1e-8)
    return scales @ buffer, scales, buffer


class DBMTLCombiner(SharedGradientCombiner):
    def __init__(self) -> None:
        super().__init__()
        self.buffer: torch.Tensor | None = None
        self.step = 0

    def prepare_losses(self, losses: list[torch.Tensor]) -> list[torch.Tensor]:
        return [torch.log(loss.float() + 1e-8) for loss in losses]

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        self.step += 1
        update, scales, self.buffer = db_mtl_update(grads, self.buffer, self.step)
        return Direction(update, None, scales)

    def state(self) -> object:
        return {"step": self.step}

    def load_state(self, state: object) -> None:
        self.step = int(state["step"])  # type: ignore[index]

    def tensor_state(self) -> dict[str, torch.Tensor]:
        return {} if self.buffer is None else {"buffer": self.buffer}

    def load_tensor_state(self, tensors: dict[str, torch.Tensor]) -> None:
        self.buffer = tensors.get("buffer")


METHOD = trusted(
    "db-mtl",
    __file__,
    lambda config, tasks: DBMTLCombiner(),
    "dual-balancing (Lin et al. 2023)",
    "gradient",
)
