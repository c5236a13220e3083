"""The controls every multi-task method is measured against, generated for each task from the
losses it declares (two method families, `mtl_bench.method_families`):

- `single:<loss>`, the single-task controls: the model trained on that loss alone. The other
  losses get weight 0 and are not backpropagated at all, so their heads get no gradient
  (`.grad` stays None) and the shared trunk sees that loss's gradient only.
- `fixed-weights:<fractions>`, the fixed-weight frontier: the linear scalarisation
  sum_i w_i L_i on an interior grid of the simplex, the weights summing to T (the task
  count) so that the grid's centre is `equal` (the sum of the losses), which is not a member
  but the family's centre: its runs are the centre point. T = 2: the first task's fraction
  w in {0.1, ..., 0.9}, weights (2w, 2(1 - w)); T >= 3: the points k / (2T) with every
  k_i >= 1 (T = 3: step 1/6, 10 points with the centre). A member is named by its fractions
  rounded to 2 decimals (`fixed-weights:0.1-0.9`, `fixed-weights:0.17-0.17-0.67`); its
  `loss_weights` are the exact T k_i / D.

Both are trusted loss-level combiners: per step, one `torch.autograd.backward` of the losses
of non-zero weight with their weights as gradients (filled on the device, no copy and no
wait), and the total sum_i w_i L_i, detached. A member's weights and the losses it trains
are its `parameters`, hashed into its cache key beside this file.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from harness.api import Combiner, MethodFamily, MethodInfo, StepContext, StepResult

HERE = Path(__file__).resolve()


class FixedWeightsCombiner(Combiner):
    """sum_i w_i L_i with fixed weights; a loss of weight 0 is not backpropagated."""

    def __init__(self, weights: tuple[float, ...]) -> None:
        self.weights = [float(w) for w in weights]
        self.trained = [index for index, weight in enumerate(self.weights) if weight != 0.0]
        if not self.trained:
            raise ValueError("a fixed-weight combiner needs a non-zero weight")

    def attach(self, model: nn.Module, seed: int) -> None:
        pass

    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        if len(losses) != len(self.weights):
            raise ValueError(f"{len(self.weights)} fixed weights for {len(losses)} task losses")
        trained = [losses[index] for index in self.trained]
        weights = [self.weights[index] for index in self.trained]
        torch.autograd.backward(trained, grad_tensors=[torch.full_like(loss, w) for loss, w in zip(trained, weights)])
        total = sum((loss.detach() * w for loss, w in zip(trained[1:], weights[1:])), trained[0].detach() * weights[0])
        return StepResult(total, list(self.weights))


def _member(
    family: str,
    suffix: str,
    description: str,
    loss_names: tuple[str, ...],
    weights: tuple[float, ...],
    trains: tuple[str, ...] | None,
) -> MethodInfo:
    parameters = f"{family}: " + ", ".join(f"{loss}={weight!r}" for loss, weight in zip(loss_names, weights))
    return MethodInfo(
        name=f"{family}:{suffix}",
        description=description,
        level="loss",
        combiner=lambda config, tasks: FixedWeightsCombiner(weights),
        source_files=(HERE,),
        trains=trains,
        loss_weights=None if trains is not None else weights,
        parameters=parameters,
    )


def single_task_controls(loss_names: tuple[str, ...]) -> list[MethodInfo]:
    """`single:<loss>` for each of the task's losses: that loss alone."""
    return [
        _member(
            "single",
            loss,
            f"single-task control: trains {loss} alone",
            loss_names,
            tuple(1.0 if other == index else 0.0 for other in range(len(loss_names))),
            (loss,),
        )
        for index, loss in enumerate(loss_names)
    ]


def grid_steps(tasks: int) -> int:
    """D, the simplex grid's denominator: 10 for two tasks (w = 0.1, ..., 0.9), else 2T."""
    return 10 if tasks == 2 else 2 * tasks


def frontier_points(tasks: int) -> list[tuple[int, ...]]:
    """The interior grid points (k_1, ..., k_T): every k_i >= 1 and sum k_i = D, without the
    centre (all k_i equal); in lexicographic order, (1, D - 1) first for two tasks."""
    if tasks < 2:
        return []
    return [point for point in _compositions(grid_steps(tasks), tasks) if len(set(point)) > 1]


def _compositions(total: int, parts: int) -> list[tuple[int, ...]]:
    """Every way to write `total` as `parts` positive integers, in lexicographic order."""
    if parts == 1:
        return [(total,)]
    return [(first, *rest) for first in range(1, total - parts + 2) for rest in _compositions(total - first, parts - 1)]


def fixed_weight_frontier(loss_names: tuple[str, ...]) -> list[MethodInfo]:
    """`fixed-weights:<fractions>`: the interior simplex grid's points other than the centre."""
    tasks = len(loss_names)
    steps = grid_steps(tasks)
    members = []
    for point in frontier_points(tasks):
        suffix = "-".join(f"{round(k / steps, 2):g}" for k in point)
        weights = tuple(tasks * k / steps for k in point)
        text = ", ".join(f"{loss} {weight:g}" for loss, weight in zip(loss_names, weights))
        members.append(_member("fixed-weights", suffix, f"fixed weights: {text}", loss_names, weights, None))
    return members


SINGLE_TASK = MethodFamily(
    "single",
    "single-task controls: each of the task's losses trained alone (single:LOSS)",
    "controls",
    single_task_controls,
)
FIXED_WEIGHTS = MethodFamily(
    "fixed-weights",
    "the fixed-weight frontier: sum of w_i L_i on an interior simplex grid, weights summing to the task count",
    "frontier",
    fixed_weight_frontier,
    centre="equal",
)
