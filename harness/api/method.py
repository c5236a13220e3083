"""The method contract: how the trainer turns per-task losses into parameter gradients.

A method is registered as a `MethodInfo` and runs in one of two ways:
- a `MultiTaskLoss` file in the submission format (`loss_file`): it maps loss values to a
  total, and the trainer backpropagates the real losses with d total / d loss_i;
- a trusted `Combiner` (`combiner`): it gets the losses with their graph and writes the
  parameters' `.grad` itself (gradient-level methods, or loss-level ones that need the
  job's seed or a hook after the optimizer step).
Its `kind` (harness.api.records.MethodKind) is how specs and records name it. A
`MethodFamily` generates methods per task from the task's losses (`single:fine`). Submissions
are files in the submission format (a MultiTaskLoss, GradientCombiner or GramCombiner) and
run only in the sandboxed oracle.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import torch
from torch import nn

from harness.api.records import MethodKind, MethodLevel, TrainConfig


@dataclass(frozen=True)
class StepContext:
    epoch: int
    total_epochs: int
    lr: float
    reuse_task_gradients: bool = False  # TrainConfig.reuse_task_gradients


@dataclass
class StepResult:
    """What a step reports. `weights` (d total / d loss_i, or the method's effective task
    weights) and tensor `extras` may stay on the device: the trainer sums them there and
    reads them once per epoch, so reporting never synchronises a step."""

    total: float | torch.Tensor
    weights: list[float] | torch.Tensor
    extras: dict[str, float | torch.Tensor] = field(default_factory=dict)  # summed per epoch


class Combiner(ABC):
    @abstractmethod
    def attach(self, model: nn.Module, seed: int) -> None:
        """Called once with the model before training starts."""

    @abstractmethod
    def backward(self, losses: list[torch.Tensor], context: StepContext) -> StepResult:
        """Fill `.grad` of the model's parameters for this step."""

    def state(self) -> object:
        """State for a checkpoint, None if there is none: None, bool, int, float, str,
        tensors, and lists, tuples and str-keyed dicts of these (the trainer encodes it)."""
        return None

    def load_state(self, state: object) -> None:
        pass

    def tensor_state(self) -> dict[str, torch.Tensor]:
        """Large tensors of a trusted combiner (gradient buffers), checkpointed as tensors."""
        return {}

    def load_tensor_state(self, tensors: dict[str, torch.Tensor]) -> None:
        pass

    wants_losses_after_step = False  # FAMO: the trainer recomputes the batch's losses after the step

    def after_step(self, losses: list[torch.Tensor]) -> None:
        """Called after the optimizer step with the same batch's new losses (no graph)."""

    def check_limits(self, epoch: int) -> None:
        """After each epoch: raise SubmissionError if the method broke a limit between
        calls (a sandboxed oracle's CPU-time budget, spent by processes it forked)."""

    def close(self) -> None:
        pass

    @property
    def sandbox(self) -> str:
        return "in-process"


@dataclass(frozen=True)
class MethodInfo:
    """A method as registered under the `mtl_bench.methods` entry-point group."""

    name: str
    description: str
    level: MethodLevel
    loss_file: Path | None = None  # a MultiTaskLoss file in the submission format
    combiner: Callable[[TrainConfig, int], Combiner] | None = None  # or (config, task count) -> combiner
    source_files: tuple[Path, ...] = ()  # hashed into the cache key (default: `loss_file`)
    max_tasks: int | None = None  # the most task losses it handles; None: any number
    beside_submissions: bool = False  # `submit` runs it beside a submission (the seed's baselines)
    # a family's member (MethodFamily): the task losses a single-task control trains (None: all),
    # a fixed-weight frontier point's weights, and the text that sets it apart from its family's
    # other members, hashed into its cache key after its files (only when not empty)
    trains: tuple[str, ...] | None = None
    loss_weights: tuple[float, ...] | None = None
    parameters: str = ""

    def __post_init__(self) -> None:
        if (self.loss_file is None) == (self.combiner is None):
            raise TypeError(f"method {self.name}: give exactly one of loss_file and combiner")
        if self.level not in ("loss", "gradient"):
            raise TypeError(f"method {self.name}: level {self.level!r} is neither 'loss' nor 'gradient'")
        if self.loss_file is not None and self.level != "loss":
            raise TypeError(f"method {self.name}: a loss_file is a MultiTaskLoss, which is loss level")

    @property
    def kind(self) -> MethodKind:
        """How its spec and records name it: a MultiTaskLoss file, or a trusted combiner of its level."""
        return MethodKind.LOSS_MODULE if self.loss_file is not None else MethodKind.of_combiner(self.level)

    def hashed_files(self) -> tuple[Path, ...]:
        if self.source_files:
            return self.source_files
        assert self.loss_file is not None, f"method {self.name}: a combiner must list its source_files"
        return (self.loss_file,)

    def refusal(self, task_count: int) -> str | None:
        """Why this method cannot run on a task with `task_count` losses, or None."""
        if self.max_tasks is not None and task_count > self.max_tasks:
            return f"{self.name} handles at most {self.max_tasks} task losses, this task has {task_count}"
        return None


@dataclass(frozen=True)
class MethodFamily:
    """Methods generated for each task from the losses it declares, registered under the
    `mtl_bench.method_families` entry-point group: `members(loss_names)` are the family's
    methods for a task with those losses, each named `f"{name}:{suffix}"` (the single-task
    controls `single:fine`, the fixed-weight frontier `fixed-weights:0.1-0.9`). `role` says
    what they are for: `controls` (each trains a part of the task's losses) or `frontier`
    (points of a trade-off); `centre`, a registered method run with the members as the
    family's centre point (the frontier's is `equal`), or None."""

    name: str
    description: str
    role: Literal["controls", "frontier"]
    members: Callable[[tuple[str, ...]], list[MethodInfo]]
    centre: str | None = None

    def __post_init__(self) -> None:
        if self.role not in ("controls", "frontier"):
            raise TypeError(f"method family {self.name}: role {self.role!r} is neither 'controls' nor 'frontier'")
        if not self.name or ":" in self.name:
            raise TypeError(f"method family {self.name!r}: a family's name is not empty and holds no ':'")

    @property
    def prefix(self) -> str:
        """What every member's name starts with (and no other method's may)."""
        return f"{self.name}:"
