"""Device choice and description."""

from __future__ import annotations

import platform

import torch

from harness.api.errors import HarnessError


def resolve_device(name: str = "auto") -> torch.device:
    """`auto` picks CUDA when present, else the CPU; explicit names are checked."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise HarnessError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise HarnessError(f"device {name} requested but CUDA is not available here")
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise HarnessError(f"device {name} does not exist ({torch.cuda.device_count()} GPUs)")
    elif device.type != "cpu":
        raise HarnessError(f"unsupported device {name!r}; use auto, cpu, cuda or cuda:N")
    return device


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return platform.processor() or platform.machine() or "cpu"
