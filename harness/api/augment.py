"""Batched augmentation on uint8 image tensors, on whatever device they live on.

RandomCrop with zero padding and a horizontal flip are done as one gather per batch:
no per-image PIL work and no worker processes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def crop_and_flip(
    images: torch.Tensor, padding: int, top: torch.Tensor, left: torch.Tensor, flip: torch.Tensor
) -> torch.Tensor:
    """Crop each image of `images` (B, C, H, W) at (top, left) of its zero-padded copy and
    mirror it where `flip` is true. Returns (B, C, H, W) with channels-last strides."""
    batch, _, height, width = images.shape
    padded = F.pad(images, (padding, padding, padding, padding))
    device = images.device
    rows = top.to(device)[:, None] + torch.arange(height, device=device)
    cols = left.to(device)[:, None] + torch.arange(width, device=device)
    cols = torch.where(flip.to(device)[:, None], cols.flip(1), cols)
    index = torch.arange(batch, device=device)[:, None, None]
    gathered = padded[index, :, rows[:, :, None], cols[:, None, :]]  # (B, H, W, C)
    return gathered.permute(0, 3, 1, 2)


def random_crop_flip(images: torch.Tensor, padding: int, generator: torch.Generator) -> torch.Tensor:
    """RandomCrop(size, padding) + RandomHorizontalFlip(0.5) for a whole batch.
    Random numbers are drawn on the CPU from `generator`, so a seed gives the same
    augmentation on every device."""
    batch = images.shape[0]
    top = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    left = torch.randint(0, 2 * padding + 1, (batch,), generator=generator)
    flip = torch.rand(batch, generator=generator) < 0.5
    non_blocking = images.device.type == "cuda"
    return crop_and_flip(
        images,
        padding,
        top.to(images.device, non_blocking=non_blocking),
        left.to(images.device, non_blocking=non_blocking),
        flip.to(images.device, non_blocking=non_blocking),
    )


def draw_epoch_crops(batch_sizes: list[int], padding: int, generator: torch.Generator) -> torch.Tensor:
    """(3, N) int64 rows top, left, flip for a whole epoch, drawn batch by batch in the
    order `random_crop_flip` draws them (so a seed augments exactly as it did per batch).
    Drawn once at the epoch start, they reach the device in one copy, not three per step."""
    parts = []
    for size in batch_sizes:
        top = torch.randint(0, 2 * padding + 1, (size,), generator=generator)
        left = torch.randint(0, 2 * padding + 1, (size,), generator=generator)
        flip = torch.rand(size, generator=generator) < 0.5
        parts.append(torch.stack([top, left, flip.long()]))
    if not parts:
        return torch.zeros(3, 0, dtype=torch.long)
    return torch.cat(parts, dim=1)


def normalize(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """uint8 (B, C, H, W) -> float32, per-channel normalised; keeps the memory format."""
    scaled = images.float().div_(255.0)
    return scaled.sub_(mean.view(1, -1, 1, 1)).div_(std.view(1, -1, 1, 1))


def to_model_input(images: torch.Tensor, mean: torch.Tensor, std: torch.Tensor, channels_last: bool) -> torch.Tensor:
    """uint8 batch -> normalised float batch in the memory format the model runs in."""
    batch = normalize(images, mean, std)
    return batch.contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
