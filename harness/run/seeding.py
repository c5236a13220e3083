"""One seed fixes every source of randomness of a job."""

from __future__ import annotations

import random

import numpy as np
import torch


def seed_everything(seed: int) -> torch.Generator:
    """Seed Python, NumPy and torch (all devices); return the job's data generator."""
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = True
    return torch.Generator().manual_seed(seed)


def device_rng_state(device: torch.device) -> list[torch.Tensor]:
    """The CUDA generator state of the training device alone (empty off CUDA). Saving every
    device's state would restore this job's dropout stream into another GPU's generator
    when it resumes elsewhere, and fail on a machine with fewer GPUs."""
    if device.type != "cuda":
        return []
    return [torch.cuda.get_rng_state(device)]


def restore_device_rng(device: torch.device, saved: list[torch.Tensor]) -> None:
    """Put a saved training-device state into this job's device, whichever index it has."""
    if device.type == "cuda" and saved:
        torch.cuda.set_rng_state(saved[0], device)
