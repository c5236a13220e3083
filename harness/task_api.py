"""The task plugin contract: what the trusted trainer needs to know about a task."""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from harness.contracts import JobSpec, TrainConfig

Batch = tuple[torch.Tensor, tuple[torch.Tensor, ...]]


@dataclass(frozen=True)
class TaskOptions:
    """Command-line switches that change a task's protocol; a task applies those it has."""

    pretrained: bool | None = None
    balanced_sampling: bool | None = None
    tta: bool | None = None
    face_dataset: str | None = None


@dataclass(frozen=True)
class Architecture:
    name: str
    hidden: bool = False


class TaskData(ABC):
    """Both splits of a task, ready on the training device."""

    @abstractmethod
    def train_batches(self, generator: torch.Generator) -> Iterator[Batch]:
        """One epoch of shuffled, augmented batches; all randomness from `generator`."""

    @abstractmethod
    def test_batches(self) -> Iterator[Batch]:
        """The test split in a fixed order, without augmentation."""

    @property
    @abstractmethod
    def train_size(self) -> int: ...


class Task(ABC):
    """A multi-task problem: data, models, per-task losses and a trusted evaluator."""

    name: str
    loss_names: tuple[str, ...]
    architectures: tuple[Architecture, ...]
    column_tag: str
    primary_metric: str
    primary_label: str
    higher_is_better: bool = True
    curve_metrics: tuple[str, ...] = ()  # test metrics drawn per epoch in the HTML report

    def architecture(self, name: str) -> Architecture:
        for arch in self.architectures:
            if arch.name == name:
                return arch
        known = ", ".join(a.name for a in self.architectures)
        raise KeyError(f"unknown architecture {name!r} for task {self.name}; known: {known}")

    def visible_architectures(self) -> list[str]:
        return [a.name for a in self.architectures if not a.hidden]

    @abstractmethod
    def preset(self, name: str) -> tuple[TrainConfig, list[str], list[int]]:
        """The preset's training config, architectures and seeds."""

    def configure(self, config: TrainConfig, options: TaskOptions) -> TrainConfig:
        """The preset's config with the options this task understands applied."""
        return config

    def variants(self, config: TrainConfig) -> list[TrainConfig]:
        """The configs one (arch, seed) expands to; Adience gives one per fold."""
        return [config]

    def check_job(self, job: JobSpec, data_root: Path) -> None:
        """Raise HarnessError with instructions if `job` cannot start (e.g. missing weights)."""

    @abstractmethod
    def build_model(self, arch: str, config: TrainConfig | None = None) -> nn.Module:
        """A model whose forward returns one output per task and that has
        `shared_parameters()` and `task_parameters(i)`."""

    @abstractmethod
    def prepare_data(self, config: TrainConfig, data_root: Path) -> None:
        """Make sure the data exist (generate synthetic sets); raise DataNotFoundError
        with instructions when they do not. Called once before a batch of jobs."""

    @abstractmethod
    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> TaskData: ...

    @abstractmethod
    def losses(
        self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], config: TrainConfig
    ) -> list[torch.Tensor]:
        """Per-task scalar losses, in the order of `loss_names`."""

    @abstractmethod
    def evaluate(self, model: nn.Module, data: TaskData, autocast: bool) -> dict[str, float]:
        """Named test metrics; must include `primary_metric`."""
