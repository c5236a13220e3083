"""Training throughput of the harness vs. a plain torchvision DataLoader pipeline.

Both train the same ResNet-20 (two heads, summed losses, the protocol's SGD) for one
epoch on the same CIFAR-100-format files on this machine, in one run, and the script
prints images per second and the ratio. The input pipelines alone are timed too.

    python benchmarks/epoch_throughput.py [--data-root DIR] [--images N] [--workers 0 2]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F
import torchvision
from torch.utils.data import DataLoader
from torchvision import transforms

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.api.records import TrainConfig  # noqa: E402
from harness.methods.resolve import registered_method  # noqa: E402
from harness.run.trainer import train  # noqa: E402
from tasks.cifar100_mtl import SYNTHETIC_FOLDER, Cifar100MultiTask, synthetic  # noqa: E402
from tasks.cifar100_mtl.data import CIFAR100_MEAN, CIFAR100_STD  # noqa: E402


class LocalCifar100(torchvision.datasets.CIFAR100):
    """torchvision's own CIFAR-100 reader; the synthetic files have other checksums."""

    def _check_integrity(self) -> bool:
        return True

    def _load_meta(self) -> None:
        self.classes = [f"class_{i:03d}" for i in range(100)]
        self.class_to_idx = {name: i for i, name in enumerate(self.classes)}


def plain_loader(root: Path, workers: int, limit: int) -> tuple[DataLoader, torch.Tensor]:
    transform = transforms.Compose(
        [
            transforms.RandomCrop(32, padding=4),
            transforms.RandomHorizontalFlip(),
            transforms.ToTensor(),
            transforms.Normalize(CIFAR100_MEAN, CIFAR100_STD),
        ]
    )
    dataset = LocalCifar100(str(root), train=True, transform=transform, download=False)
    dataset.data = dataset.data[:limit]
    dataset.targets = dataset.targets[:limit]
    coarse = torch.tensor(synthetic.fine_to_coarse())
    return DataLoader(dataset, batch_size=128, shuffle=True, num_workers=workers, persistent_workers=False), coarse


def plain_epoch(root: Path, workers: int, limit: int, train_model: bool) -> float:
    torch.manual_seed(0)
    loader, coarse_of = plain_loader(root, workers, limit)
    model = Cifar100MultiTask().build_model("resnet20")
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=5e-4)
    seen = 0
    started = time.perf_counter()
    for images, fine in loader:
        if train_model:
            out_fine, out_coarse = model(images)
            loss = F.cross_entropy(out_fine, fine) + F.cross_entropy(out_coarse, coarse_of[fine])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seen += images.shape[0]
    return seen / (time.perf_counter() - started)


def harness_epoch(data_root: Path, limit: int) -> float:
    task = Cifar100MultiTask()
    config = TrainConfig(epochs=1, data="synthetic", train_size=limit, test_size=100)
    combiner = registered_method("equal", task.loss_names).make_combiner(config)
    outcome = train(task, "resnet20", 0, config, combiner, torch.device("cpu"), data_root)
    return outcome.epochs[0].images_per_second


def harness_input_only(data_root: Path, limit: int) -> float:
    task = Cifar100MultiTask()
    config = TrainConfig(epochs=1, data="synthetic", train_size=limit, test_size=100)
    data = task.load_data(config, torch.device("cpu"), data_root)
    started = time.perf_counter()
    seen = sum(images.shape[0] for images, _ in data.train_batches(torch.Generator().manual_seed(0)))
    return seen / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-root", type=Path, help="folder with synthetic-cifar100/ (made if absent)")
    parser.add_argument("--images", type=int, default=5000, help="training images per epoch")
    parser.add_argument("--workers", type=int, nargs="+", default=[0, 2], help="DataLoader workers to try")
    args = parser.parse_args()
    data_root = args.data_root or Path(tempfile.mkdtemp())
    cifar_root = synthetic.generate(data_root / SYNTHETIC_FOLDER, args.images, 1000)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {args.images} images, ResNet-20")

    print("input pipeline only (images/s):")
    ours_input = harness_input_only(data_root, args.images)
    plain_input = {w: plain_epoch(cifar_root, w, args.images, train_model=False) for w in args.workers}
    print(f"  harness tensor pipeline     {ours_input:10.0f}")
    for w, rate in plain_input.items():
        print(f"  DataLoader, {w} workers      {rate:10.0f}   ratio harness/plain {ours_input / rate:6.1f}x")

    print("one training epoch (images/s):")
    ours = harness_epoch(data_root, args.images)
    plain = {w: plain_epoch(cifar_root, w, args.images, train_model=True) for w in args.workers}
    print(f"  harness trainer             {ours:10.0f}")
    for w, rate in plain.items():
        print(f"  DataLoader, {w} workers      {rate:10.0f}   ratio harness/plain {ours / rate:6.2f}x")
    best = max(plain.values())
    print(f"RATIO harness / best plain pipeline, training: {ours / best:.2f}x")


if __name__ == "__main__":
    main()
