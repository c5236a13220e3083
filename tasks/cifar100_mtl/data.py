"""The fast input path: each split is one uint8 tensor on the training device."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from harness.api import Batch, TaskData, to_device, to_model_input
from harness.api.augment import crop_and_flip, draw_epoch_crops
from tasks.cifar100_mtl.cifar_files import CifarSplit

# Per-channel statistics of the real CIFAR-100 training set (the protocol's constants).
CIFAR100_MEAN = (0.5071, 0.4865, 0.4409)
CIFAR100_STD = (0.2673, 0.2564, 0.2762)


class DeviceSplit:
    """Images (N, 3, 32, 32) uint8 and (fine, coarse) labels, resident on one device."""

    def __init__(self, split: CifarSplit, device: torch.device, rows: slice | list[int]) -> None:
        self.images = torch.from_numpy(split.images[rows]).to(device)
        self.targets = (
            torch.from_numpy(split.fine_labels[rows]).to(device),
            torch.from_numpy(split.coarse_labels[rows]).to(device),
        )

    def __len__(self) -> int:
        return self.images.shape[0]


class CifarTensorData(TaskData):
    def __init__(
        self,
        train: DeviceSplit,
        test: DeviceSplit,
        batch_size: int,
        channels_last: bool,
        eval_batch_size: int = 1000,
    ) -> None:
        self.train = train
        self.test = test
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.channels_last = channels_last
        device = train.images.device
        self.mean = torch.tensor(CIFAR100_MEAN, device=device)
        self.std = torch.tensor(CIFAR100_STD, device=device)
        self._test_inputs: torch.Tensor | None = None

    @property
    def train_size(self) -> int:
        return len(self.train)

    def _finish(self, images: torch.Tensor) -> torch.Tensor:
        return to_model_input(images, self.mean, self.std, self.channels_last)

    def train_batches(self, generator: torch.Generator) -> Iterator[Batch]:
        """The epoch's order and augmentation are drawn first (one copy to the device);
        the steps then only index and gather on the device."""
        count = len(self.train)
        order = torch.randperm(count, generator=generator)
        sizes = [min(self.batch_size, count - start) for start in range(0, count, self.batch_size)]
        crops = draw_epoch_crops(sizes, 4, generator)
        plan = to_device(torch.cat([order[None], crops]), self.train.images, "epoch")
        for start in range(0, count, self.batch_size):
            index, top, left, flip = plan[:, start : start + self.batch_size]
            images = crop_and_flip(self.train.images[index], 4, top, left, flip.bool())
            yield self._finish(images), tuple(t[index] for t in self.train.targets)

    def test_batches(self) -> Iterator[Batch]:
        """The test split is normalised once (the same elementwise arithmetic as per batch)
        and kept: 123 MB for all of CIFAR-100's test images in float32."""
        if self._test_inputs is None:
            self._test_inputs = self._finish(self.test.images)
        for start in range(0, len(self.test), self.eval_batch_size):
            stop = start + self.eval_batch_size
            yield self._test_inputs[start:stop], tuple(t[start:stop] for t in self.test.targets)
