"""The protocol's mixed precision: bf16 autocast on CUDA when `TrainConfig.amp` is on."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext


def autocast(device_type: str, enabled: bool) -> AbstractContextManager[object]:
    """bf16 autocast when enabled, else nothing at all (so devices without an autocast,
    such as `meta` in the sync-trap tests, run the same code)."""
    if not enabled:
        return nullcontext()
    import torch  # here, so that records (which name the precision) stay free of torch

    return torch.autocast(device_type, dtype=torch.bfloat16)


def mixed_precision(amp: bool, device_type: str) -> bool:
    """Whether a job autocasts: `TrainConfig.amp` on CUDA (the CPU always runs fp32)."""
    return amp and device_type == "cuda"


def precision_name(amp: bool, device_type: str) -> str:
    """The precision a job's numbers come from, as its cache key records it."""
    return "bf16" if mixed_precision(amp, device_type) else "fp32"
