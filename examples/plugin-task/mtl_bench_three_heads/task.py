"""`three-heads`: three tasks on small synthetic images, learned by one shared CNN.

Every 16x16 RGB image is the sum of
- one of ten fixed smooth colour patterns (task `pattern`: which one, 10 classes),
- a horizontal ramp that brightens the left or the right half (task `side`: which, 2 classes),
- a brightness offset drawn uniformly from [0, 1] (task `brightness`: regress it),
- Gaussian pixel noise (`noise`, the task's one option).
The images are generated in memory from fixed seeds, so every machine trains on the same
data and no files are needed; the data root is not used.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
import torch.nn.functional as F
from pydantic import BaseModel, ConfigDict, Field
from torch import nn

from harness.api import (
    Architecture,
    Batch,
    HarnessError,
    MetricDescription,
    Task,
    TaskData,
    TaskMetric,
    TaskOption,
    TrainConfig,
)

SIZE = 16
PATTERNS = 10
TEMPLATE_SEED, TRAIN_SEED, TEST_SEED = 1234, 1, 2
DEFAULT_TRAIN, DEFAULT_TEST = 4096, 1024
BRIGHTNESS_STD = 12**-0.5  # of the uniform distribution on [0, 1]: targets are standardised with it


class ThreeHeadsOptions(BaseModel):
    """The task's own settings; stored in `TrainConfig.options`, so part of a job's cache key."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    noise: float = Field(default=0.3, ge=0, description="standard deviation of the pixel noise")


NOISY = 0.9
OPTIONS = (TaskOption("--three-heads-noisy", "noise", f"three-heads: pixel noise {NOISY} instead of 0.3", value=NOISY),)

PRESETS: dict[str, tuple[TrainConfig, list[str], list[int]]] = {
    "tiny": (
        TrainConfig(epochs=2, batch_size=64, lr=0.05, data="synthetic", train_size=256, test_size=128),
        ["tinycnn"],
        [0],
    ),
    "smoke": (
        TrainConfig(epochs=3, batch_size=64, lr=0.05, data="synthetic", train_size=2048, test_size=512),
        ["tinycnn"],
        [0],
    ),
    "dev": (TrainConfig(epochs=15, lr=0.05, data="synthetic"), ["tinycnn"], [42]),
    "full": (TrainConfig(epochs=30, lr=0.05, data="synthetic"), ["tinycnn"], [42, 123, 456]),
    "final": (TrainConfig(epochs=30, lr=0.05, data="synthetic"), ["tinycnn"], [42, 123, 456]),
}


def templates() -> torch.Tensor:
    """(10, 3, 16, 16): the smooth colour patterns, each with zero mean and unit std."""
    generator = torch.Generator().manual_seed(TEMPLATE_SEED)
    coarse = torch.randn(PATTERNS, 3, 4, 4, generator=generator)
    smooth = F.interpolate(coarse, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
    smooth = smooth - smooth.mean(dim=(1, 2, 3), keepdim=True)
    return smooth / smooth.std(dim=(1, 2, 3), keepdim=True)


def generate(count: int, seed: int, noise: float) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    """`count` images (N, 3, 16, 16) float32 and their (pattern, side, brightness) targets."""
    generator = torch.Generator().manual_seed(seed)
    pattern = torch.randint(0, PATTERNS, (count,), generator=generator)
    side = torch.randint(0, 2, (count,), generator=generator)
    brightness = torch.rand(count, generator=generator)
    ramp = torch.linspace(-1.0, 1.0, SIZE).view(1, 1, 1, SIZE)  # dark left, bright right
    sign = (2 * side - 1).float().view(-1, 1, 1, 1)  # side 1: the right half is brighter
    images = (
        1.5 * templates()[pattern]
        + 0.5 * sign * ramp
        + (2 * brightness - 1).view(-1, 1, 1, 1)
        + noise * torch.randn(count, 3, SIZE, SIZE, generator=generator)
    )
    standardised = (brightness - 0.5) / BRIGHTNESS_STD
    return images.float(), (pattern, side, standardised.float())


class Split:
    def __init__(self, count: int, seed: int, noise: float, device: torch.device) -> None:
        images, targets = generate(count, seed, noise)
        self.images = images.to(device)
        self.targets = tuple(t.to(device) for t in targets)

    def __len__(self) -> int:
        return self.images.shape[0]


class ThreeHeadsData(TaskData):
    def __init__(self, train: Split, test: Split, batch_size: int, channels_last: bool) -> None:
        self.train = train
        self.test = test
        self.batch_size = batch_size
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format

    @property
    def train_size(self) -> int:
        return len(self.train)

    def train_batches(self, generator: torch.Generator) -> Iterator[Batch]:
        """Shuffled batches; no augmentation (a flip would change the `side` label)."""
        order = torch.randperm(len(self.train), generator=generator).to(self.train.images.device)
        for start in range(0, len(order), self.batch_size):
            index = order[start : start + self.batch_size]
            images = self.train.images[index].contiguous(memory_format=self.memory_format)
            yield images, tuple(t[index] for t in self.train.targets)

    def test_batches(self) -> Iterator[Batch]:
        for start in range(0, len(self.test), 512):
            images = self.test.images[start : start + 512].contiguous(memory_format=self.memory_format)
            yield images, tuple(t[start : start + 512] for t in self.test.targets)


class ThreeHeadNet(nn.Module):
    """A small shared CNN trunk and one linear head per task (10 classes, 2 classes, 1 value).

    The trainer and the gradient-level baselines need `shared_parameters()`,
    `task_parameters(i)` and `heads` (the "-UB" methods hook the input of `heads[0]`)."""

    def __init__(self) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1, bias=False),
            nn.BatchNorm2d(16),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1, bias=False),
            nn.BatchNorm2d(32),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(2),
            nn.Flatten(),
            nn.Linear(32 * 4 * 4, 64),
            nn.ReLU(inplace=True),
        )
        self.heads = nn.ModuleList([nn.Linear(64, PATTERNS), nn.Linear(64, 2), nn.Linear(64, 1)])

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        features = self.trunk(images)
        pattern, side, brightness = (head(features) for head in self.heads)
        return pattern, side, brightness.squeeze(1)

    def shared_parameters(self) -> list[nn.Parameter]:
        return list(self.trunk.parameters())

    def task_parameters(self, task_index: int) -> list[nn.Parameter]:
        return list(self.heads[task_index].parameters())


class ThreeHeads(Task):
    name = "three-heads"
    loss_names = ("pattern", "side", "brightness")
    architectures = (Architecture("tinycnn"),)
    column_tag = "3heads"
    primary_metric = "pattern_acc"
    primary_label = "test acc"
    higher_is_better = True
    curve_metrics = ("pattern_acc", "side_acc")
    task_metrics = (
        TaskMetric("pattern", "pattern_acc", "pattern acc"),
        TaskMetric("side", "side_acc", "side acc"),
        TaskMetric("brightness", "brightness_mae", "brightness MAE", higher_is_better=False),
    )
    metric_descriptions = (
        MetricDescription("pattern_acc", "pattern accuracy", "%"),
        MetricDescription("side_acc", "side accuracy", "%"),
        MetricDescription("brightness_mae", "brightness MAE", "brightness (0-1)", higher_is_better=False),
    )
    options_model = ThreeHeadsOptions
    cli_options = OPTIONS

    def preset(self, name: str) -> tuple[TrainConfig, list[str], list[int]]:
        if name not in PRESETS:
            raise HarnessError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        config, archs, seeds = PRESETS[name]
        return config, list(archs), list(seeds)

    def options(self, config: TrainConfig) -> ThreeHeadsOptions:
        return ThreeHeadsOptions.model_validate(config.options)

    def build_model(self, arch: str, config: TrainConfig | None = None) -> nn.Module:
        self.architecture(arch)  # raises for an unknown name
        return ThreeHeadNet()

    def prepare_data(self, config: TrainConfig, data_root: Path) -> None:
        """Nothing to fetch: the data are generated in memory by `load_data`."""

    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> TaskData:
        noise = self.options(config).noise
        train = Split(config.train_size or DEFAULT_TRAIN, TRAIN_SEED, noise, device)
        test = Split(config.test_size or DEFAULT_TEST, TEST_SEED, noise, device)
        return ThreeHeadsData(train, test, config.batch_size, config.channels_last)

    def losses(
        self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], config: TrainConfig
    ) -> list[torch.Tensor]:
        pattern, side, brightness = (out.float() for out in outputs)
        return [
            F.cross_entropy(pattern, targets[0]),
            F.cross_entropy(side, targets[1]),
            F.mse_loss(brightness, targets[2]),
        ]

    @torch.no_grad()
    def evaluate(self, model: nn.Module, data: TaskData, autocast: bool) -> dict[str, float]:
        model.eval()
        sums = torch.zeros(6, dtype=torch.float64)  # pattern/side correct, three loss sums, |error|
        count = 0
        for images, targets in data.test_batches():
            with torch.autocast(images.device.type, dtype=torch.bfloat16, enabled=autocast):
                outputs = model(images)
            pattern, side, brightness = (out.float() for out in outputs)
            sums += torch.tensor(
                [
                    float((pattern.argmax(1) == targets[0]).sum()),
                    float((side.argmax(1) == targets[1]).sum()),
                    float(F.cross_entropy(pattern, targets[0], reduction="sum")),
                    float(F.cross_entropy(side, targets[1], reduction="sum")),
                    float(F.mse_loss(brightness, targets[2], reduction="sum")),
                    float((brightness - targets[2]).abs().sum()),
                ],
                dtype=torch.float64,
            )
            count += images.shape[0]
        model.train()
        mean = (sums / max(count, 1)).tolist()
        return {
            "pattern_acc": 100.0 * mean[0],
            "side_acc": 100.0 * mean[1],
            "pattern_loss": mean[2],
            "side_loss": mean[3],
            "brightness_loss": mean[4],
            "brightness_mae": mean[5] * BRIGHTNESS_STD,  # in the units of the brightness, [0, 1]
        }
