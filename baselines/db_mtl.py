"""DB-MTL (Lin, Ye, Xu, Shi and Zhang, "Dual-Balancing Multi-Task Learning", 2023),
beta = 0.9, beta_sigma = 0, as LibMTL's DB_MTL.py (the authors' code; its defaults).

Loss-scale balancing: every task works on log(L_i + 1e-8). Gradient-magnitude balancing:
with g_i the gradient of log(L_i + 1e-8) with respect to the shared parameters and step t
(from 1), the buffer is h_i = g_i + beta / t^beta_sigma (h_i - g_i), starting at zero (with
beta_sigma = 0 a plain EMA, h_i = 0.1 g_i + 0.9 h_i), and the shared update is
sum_i (max_j |h_j| / |h_i|) h_i: every task's buffered gradient is scaled to the largest
norm. Heads get the gradients of their own log-losses.
Scale: a sum of T gradients each of the largest task's buffered norm (of log-losses).
Reported weights: the update's part from task i over the norm of task i's own loss
gradient, max_j |h_j| / |d L_i / d theta| (= the coefficient c_i for an update
sum_i c_i d L_i / d theta; the buffer's history has no exact coefficient on today's g_i).
Cost per step: T backward passes through the shared parameters and a (T, P) buffer (kept
in checkpoints as tensors).
"""

from __future__ import annotations

import torch

from baselines import trusted
from baselines.gradient_base import Direction, SharedGradientCombiner
from harness.api import StepContext

BETA, BETA_SIGMA = 0.9, 0.0


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
        self.raw_losses = torch.zeros(0)

    def prepare_losses(self, losses: list[torch.Tensor]) -> list[torch.Tensor]:
        self.raw_losses = torch.stack([loss.detach().float() for loss in losses])
        return [torch.log(loss.float() + 1e-8) for loss in losses]

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        self.step += 1
        update, _, self.buffer = db_mtl_update(grads, self.buffer, self.step)
        # d L_i / d theta = (L_i + 1e-8) g_i; task i's part of the update has norm max_j |h_j|
        own = ((self.raw_losses + 1e-8) * grads.norm(dim=1)).clamp_min(1e-12)
        return Direction(update, None, self.buffer.norm(dim=1).max() / own)

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
