"""One seed fixes every source of randomness of a job."""

from __future__ import annotations

import os
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


def set_deterministic(device: torch.device, on: bool) -> None:
    """A CUDA job's `deterministic` switch, set (or cleared) at each job's start, since a
    slot's jobs share the process: deterministic algorithms (an op without one fails the job
    rather than vary), cuBLAS's fixed workspace (set where the slot's process starts:
    devices.configure_process) and inductor's deterministic mode (no kernel tuning that
    changes numerics by timing). The CPU computes deterministically already: nothing to set."""
    if device.type != "cuda":
        return
    import torch._inductor.config as inductor_config

    torch.use_deterministic_algorithms(on)
    inductor_config.deterministic = on
    if on and "CUBLAS_WORKSPACE_CONFIG" not in os.environ:  # a process that did not start as a slot
        os.environ["CUBLAS_WORKSPACE_CONFIG"] = ":4096:8"


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
