"""CIFAR-100 with a fine (100-class) and a coarse (20-class) head."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from harness.api import (
    Architecture,
    DataCommand,
    DataNotFoundError,
    HarnessError,
    MetricDescription,
    Task,
    TaskData,
    TaskMetric,
    TrainConfig,
    to_host,
    training_subsets,
)
from harness.api import autocast as bf16_autocast
from tasks.cifar100_mtl import cifar_files, synthetic
from tasks.cifar100_mtl.data import CifarTensorData, DeviceSplit
from tasks.cifar100_mtl.models import build_network

SYNTHETIC_FOLDER = "synthetic-cifar100"
SYNTHETIC_TRAIN, SYNTHETIC_TEST = 5000, 1000

# The speed options of the long presets (each part of the job spec, so recorded): a compiled
# trunk, fused SGD and 2,500-image evaluation batches. tiny and smoke keep them off: compiling
# costs more than their whole run.
FAST: dict[str, Any] = {"compile": True, "fused_sgd": True, "eval_batch_size": 2500}

PRESETS: dict[str, tuple[TrainConfig, list[str], list[int]]] = {
    "tiny": (  # a pipeline check in seconds; its numbers mean nothing
        TrainConfig(epochs=2, batch_size=64, data="synthetic", train_size=256, test_size=200),
        ["resnet20"],
        [0],
    ),
    # smoke: batch 32 on 1,280 images takes 80 steps in half the time that batch 128 on 2,560
    # took 40, and learns more (fine 16.6 % vs 10.5 % for equal weighting, on 2 CPU cores)
    "smoke": (
        TrainConfig(epochs=2, batch_size=32, data="synthetic", train_size=1280, test_size=500),
        ["resnet20"],
        [0],
    ),
    "dev": (TrainConfig(epochs=30, **FAST), ["resnet20", "resnet56"], [42]),
    "full": (TrainConfig(epochs=200, **FAST), ["resnet20", "resnet56"], [42, 123, 456]),
    # the final evaluation computes deterministically on CUDA: its repeats are identical
    "final": (TrainConfig(epochs=200, deterministic=True, **FAST), ["resnet20", "resnet56", "vgg16bn"], [42, 123, 456]),
}


def _data_command(args: argparse.Namespace, root: Path) -> int:
    """`runner.py data cifar100`: download and verify, or write the synthetic stand-in."""
    if args.synthetic:
        synthetic.generate(root, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
        print(f"synthetic CIFAR-100 stand-in written to {root / cifar_files.FOLDER}")
        return 0
    print(f"checking CIFAR-100 in {root} (downloading {cifar_files.URL} if needed)", flush=True)
    cifar_files.download(root)
    print(f"CIFAR-100 verified in {root / cifar_files.FOLDER}; use --data-root {root.parent}")
    return 0


def _synthetic_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--synthetic",
        action="store_true",
        help="write the small synthetic stand-in (same file format) instead of downloading",
    )


DATA_COMMANDS = (
    DataCommand("cifar100", "download CIFAR-100 (if needed) and verify the md5 sums", _data_command, _synthetic_flag),
)


def _rows(indices: list[int]) -> slice | list[int]:
    """A leading run of rows as a slice (a view, as before subsets existed), else the list."""
    return slice(len(indices)) if indices == list(range(len(indices))) else indices


class Cifar100MultiTask(Task):
    name = "cifar100-mtl"
    loss_names = ("fine", "coarse")
    architectures = (
        Architecture("resnet20"),
        Architecture("resnet56"),
        Architecture("vgg16bn", hidden=True),
    )
    column_tag = "cifar100mt"
    primary_metric = "fine_acc"
    primary_label = "test acc"
    higher_is_better = True
    curve_metrics = ("fine_acc", "coarse_acc")
    task_metrics = (TaskMetric("fine", "fine_acc", "fine acc"), TaskMetric("coarse", "coarse_acc", "coarse acc"))
    metric_descriptions = (
        MetricDescription("fine_acc", "fine (100-class) accuracy", "%"),
        MetricDescription("coarse_acc", "coarse (20-class) accuracy", "%"),
    )
    data_commands = DATA_COMMANDS
    supports_subsets = True

    def preset(self, name: str) -> tuple[TrainConfig, list[str], list[int]]:
        if name not in PRESETS:
            raise HarnessError(f"unknown preset {name!r}; choose from {', '.join(PRESETS)}")
        config, archs, seeds = PRESETS[name]
        return config, list(archs), list(seeds)

    def build_model(self, arch: str, config: TrainConfig | None = None) -> nn.Module:
        self.architecture(arch)
        return build_network(arch, (100, 20))

    def data_dir(self, config: TrainConfig, data_root: Path) -> Path:
        if config.data == "synthetic":
            return synthetic.generate(data_root / SYNTHETIC_FOLDER, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
        return Path(os.environ.get("CIFAR100_ROOT", data_root / "cifar100"))

    def prepare_data(self, config: TrainConfig, data_root: Path) -> None:
        root = self.data_dir(config, data_root)
        missing = [n for n in ("train", "test", "meta") if not (root / cifar_files.FOLDER / n).is_file()]
        if missing:
            raise DataNotFoundError(cifar_files.missing_files_message(root))

    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> TaskData:
        """Under the held-out protocol the test split is not even read."""
        root = self.data_dir(config, data_root)
        train_split = cifar_files.read_split(root, "train")
        subsets = training_subsets(len(train_split.images), config)
        train = DeviceSplit(train_split, device, _rows(subsets.train))
        if subsets.evaluation is None:
            test = DeviceSplit(cifar_files.read_split(root, "test"), device, slice(config.test_size))
        else:
            test = DeviceSplit(train_split, device, subsets.evaluation)
        return CifarTensorData(train, test, config.batch_size, config.channels_last, config.eval_batch_size or 1000)

    def losses(
        self, outputs: tuple[torch.Tensor, ...], targets: tuple[torch.Tensor, ...], config: TrainConfig
    ) -> list[torch.Tensor]:
        return [F.cross_entropy(out.float(), target) for out, target in zip(outputs, targets)]

    @torch.inference_mode()
    def evaluate(self, model: nn.Module, data: TaskData, autocast: bool) -> dict[str, float]:
        """Counts and loss sums stay on the device until the pass ends: one transfer."""
        model.eval()
        assert isinstance(data, CifarTensorData)
        device = data.test.images.device
        correct = torch.zeros(2, dtype=torch.long, device=device)
        loss_sums = torch.zeros(2, dtype=torch.float64, device=device)
        count = 0
        for images, targets in data.test_batches():
            with bf16_autocast(images.device.type, autocast):
                outputs = model(images)
            for i, (out, target) in enumerate(zip(outputs, targets)):
                out = out.float()
                correct[i] += (out.argmax(1) == target).sum()
                loss_sums[i] += F.cross_entropy(out, target, reduction="sum").double()
            count += images.shape[0]
        model.train()
        totals = to_host(torch.cat([correct.double(), loss_sums]), "evaluation")
        return {
            "fine_acc": 100.0 * int(totals[0]) / count,
            "coarse_acc": 100.0 * int(totals[1]) / count,
            "fine_loss": float(totals[2]) / count,
            "coarse_loss": float(totals[3]) / count,
        }
