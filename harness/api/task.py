"""The task plugin contract: what the trusted trainer needs to know about a task.

A task owns its settings: an options model (stored as `TrainConfig.options`, so part of
the job spec and its cache key), the command-line switches that change them, and its
`runner.py data ...` commands. The core never names a task or its losses.
"""

from __future__ import annotations

import argparse
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from pydantic import BaseModel, ConfigDict, ValidationError
from torch import nn

from harness.api.errors import HarnessError
from harness.api.records import JobSpec, TrainConfig

Batch = tuple[torch.Tensor, tuple[torch.Tensor, ...]]


class NoOptions(BaseModel):
    """The options model of a task without settings of its own."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class TaskOption:
    """A command-line switch of a task: `--no-tta` sets field `tta` to False. Several tasks
    may declare the same flag (the face tasks share theirs); the CLI shows it once."""

    flag: str
    field: str
    help: str
    value: Any = None  # a switch: the value the flag sets
    choices: tuple[str, ...] | None = None  # or a flag that takes one of these values

    def is_switch(self) -> bool:
        return self.choices is None


@dataclass(frozen=True)
class DataCommand:
    """A `runner.py data NAME` command: fetch, check or synthesise a data set.
    `run(args, root)` gets the parsed arguments and the data set's folder."""

    name: str
    help: str
    run: Callable[[argparse.Namespace, Path], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] | None = None


@dataclass(frozen=True)
class Pretraining:
    """A stage before the multi-task run: the first `epochs` epochs train the sum of the
    losses at `losses` (indices into `loss_names`) alone, without the method; the method then
    sees a run of the remaining epochs that starts at its epoch 0 (the RoR paper's gender
    pre-training)."""

    epochs: int
    losses: tuple[int, ...]


@dataclass(frozen=True)
class TaskMetric:
    """What a task loss is judged by on the board's multi-task comparisons (Δm%, the
    trade-off figure, the hypervolume): one of `evaluate`'s metrics and its direction. A task
    declares one per task loss, in the order of `loss_names`."""

    loss: str  # the task loss it judges (one of loss_names)
    metric: str  # a key of evaluate()'s answer
    label: str  # how a reader knows it: 'fine acc', 'age MAE'
    higher_is_better: bool = True


@dataclass(frozen=True)
class MetricDescription:
    """How a document or figure names one of `evaluate`'s metrics. Units are one per kind of
    metric across tasks: accuracies in percent ("%"), scores such as F1 as fractions
    ("0-1"), errors in the quantity's own unit ("years")."""

    metric: str
    label: str
    unit: str
    higher_is_better: bool = True


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
    # one per task loss, in loss_names' order: Δm%, the trade-off figure and the hypervolume
    # use them; a task without them gets none of the three (its cells say so)
    task_metrics: tuple[TaskMetric, ...] = ()
    # evaluate()'s metrics as documents and figures name them (label, unit, direction)
    metric_descriptions: tuple[MetricDescription, ...] = ()
    options_model: ClassVar[type[BaseModel]] = NoOptions
    cli_options: ClassVar[tuple[TaskOption, ...]] = ()
    data_commands: ClassVar[tuple[DataCommand, ...]] = ()
    # True when load_data honours config.train_fraction and config.heldout_fraction (through
    # harness.api.training_subsets); jobs that need them are refused for the other tasks.
    supports_subsets: ClassVar[bool] = False

    def architecture(self, name: str) -> Architecture:
        for arch in self.architectures:
            if arch.name == name:
                return arch
        known = ", ".join(a.name for a in self.architectures)
        raise KeyError(f"unknown architecture {name!r} for task {self.name}; known: {known}")

    def visible_architectures(self) -> list[str]:
        return [a.name for a in self.architectures if not a.hidden]

    def declared_metric(self, metric: str) -> MetricDescription | None:
        """What the task says of the metric: its description, else its task metric's or the
        primary metric's label and direction (unit unknown: ""); None if it says nothing."""
        for described in self.metric_descriptions:
            if described.metric == metric:
                return described
        for judged in self.task_metrics:
            if judged.metric == metric:
                return MetricDescription(metric, judged.label, "", judged.higher_is_better)
        if metric == self.primary_metric:
            return MetricDescription(metric, self.primary_label, "", self.higher_is_better)
        return None

    def describe_metric(self, metric: str) -> MetricDescription:
        """The metric's label, unit and direction as declared, else the key itself, higher better."""
        return self.declared_metric(metric) or MetricDescription(metric, metric, "")

    def options(self, config: TrainConfig) -> Any:
        """`config.options` as this task's options model."""
        return self.options_model.model_validate(config.options)

    @abstractmethod
    def preset(self, name: str) -> tuple[TrainConfig, list[str], list[int]]:
        """The preset's training config, architectures and seeds."""

    def configure(self, config: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
        """The preset's config with the command line's option values (by field name)
        applied where this task's options model has the field."""
        fields = self.options_model.model_fields
        changes = {key: value for key, value in overrides.items() if key in fields}
        if not changes:
            return config
        try:
            options = self.options_model.model_validate({**config.options, **changes})
        except ValidationError as exc:
            raise HarnessError(f"{self.name}: bad option: {exc.errors()[0]['msg']}") from None
        return config.model_copy(update={"options": options.model_dump(mode="json")})

    def variants(self, config: TrainConfig) -> list[TrainConfig]:
        """The configs one (arch, seed) expands to; Adience gives one per fold."""
        return [config]

    def variant_label(self, config: TrainConfig) -> str | None:
        """How a person tells the variants apart ('fold 2'); None for a single variant."""
        return None

    def pretraining(self, config: TrainConfig) -> Pretraining | None:
        """The single-task stage `config` asks for before the method takes over; None
        (the default, the benchmark's protocol): the method combines every epoch."""
        return None

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
