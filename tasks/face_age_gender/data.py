"""Face splits as uint8 tensors on the training device, with the write-up's sampling.

Age targets are scaled for the loss: z = (age - 35) / 10, so SmoothL1 (beta 1) is quadratic
within ten years of the truth and linear beyond; evaluation turns z back into years.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from harness.api import Batch, TaskData, to_device, to_model_input

AGE_CENTER, AGE_SCALE = 35.0, 10.0
AGE_BIN_YEARS = 10  # inverse-frequency sampling bins: 0-9, 10-19, ..., 90+
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def scale_age(years: torch.Tensor) -> torch.Tensor:
    return (years - AGE_CENTER) / AGE_SCALE


def unscale_age(scaled: torch.Tensor) -> torch.Tensor:
    return scaled * AGE_SCALE + AGE_CENTER


def age_bins(years: torch.Tensor) -> torch.Tensor:
    return (years // AGE_BIN_YEARS).clamp(max=9).long()


def inverse_frequency_weights(bins: torch.Tensor) -> torch.Tensor:
    """Per-sample weight 1 / (size of its bin): every occupied bin gets the same total
    probability (the write-up's WeightedRandomSampler)."""
    counts = torch.bincount(bins)
    return 1.0 / counts[bins].double()


class FaceSplit:
    """Images (N, 3, S, S) uint8 and (age target, gender) on one device, plus sampling bins."""

    def __init__(
        self,
        images: torch.Tensor,
        age_target: torch.Tensor,
        gender: torch.Tensor,
        bins: torch.Tensor,
        device: torch.device,
    ) -> None:
        non_blocking = device.type == "cuda"
        self.images = images.to(device, non_blocking=non_blocking)
        self.targets = (
            age_target.to(device, non_blocking=non_blocking),
            gender.float().to(device, non_blocking=non_blocking),
        )
        self.bins = bins

    def __len__(self) -> int:
        return self.images.shape[0]


class FaceTensorData(TaskData):
    def __init__(
        self,
        train: FaceSplit,
        test: FaceSplit,
        batch_size: int,
        channels_last: bool,
        balanced_sampling: bool,
        tta: bool,
        eval_batch_size: int = 256,
    ) -> None:
        self.tta = tta
        self.train = train
        self.test = test
        self.batch_size = batch_size
        self.eval_batch_size = eval_batch_size
        self.channels_last = channels_last
        self.sample_weights = inverse_frequency_weights(train.bins) if balanced_sampling else None
        device = train.images.device
        self.mean = torch.tensor(IMAGENET_MEAN, device=device)
        self.std = torch.tensor(IMAGENET_STD, device=device)

    @property
    def train_size(self) -> int:
        return len(self.train)

    def finish(self, images: torch.Tensor) -> torch.Tensor:
        return to_model_input(images, self.mean, self.std, self.channels_last)

    def epoch_order(self, generator: torch.Generator) -> torch.Tensor:
        """Sample indices of one epoch (train_size of them), drawn on the CPU."""
        if self.sample_weights is None:
            return torch.randperm(len(self.train), generator=generator)
        return torch.multinomial(self.sample_weights, len(self.train), replacement=True, generator=generator)

    def train_batches(self, generator: torch.Generator) -> Iterator[Batch]:
        """The epoch's order and flips are drawn first, in the order the per-batch draws
        had, and reach the device in one copy; the steps only index on the device."""
        order = self.epoch_order(generator)
        starts = [s for s in range(0, len(order), self.batch_size) if len(order) - s >= 2]  # batch norm: 2+ images
        flips = [torch.rand(min(self.batch_size, len(order) - s), generator=generator) < 0.5 for s in starts]
        kept = starts[-1] + len(flips[-1]) if starts else 0
        plan = torch.stack([order[:kept], torch.cat(flips).long() if flips else order[:0]])
        plan = to_device(plan, self.train.images, "epoch")
        for start in starts:
            index, flip = plan[:, start : start + self.batch_size]
            images = self.train.images[index]
            images = torch.where(flip.bool()[:, None, None, None], images.flip(3), images)
            yield self.finish(images), tuple(t[index] for t in self.train.targets)

    def test_batches(self) -> Iterator[Batch]:
        for start in range(0, len(self.test), self.eval_batch_size):
            stop = start + self.eval_batch_size
            yield self.finish(self.test.images[start:stop]), tuple(t[start:stop] for t in self.test.targets)
