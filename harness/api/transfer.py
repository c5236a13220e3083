"""The one door between the host and the training device.

Every copy the trainer, a task or a trusted method makes between the host and the device
inside training goes through `to_host` or `to_device`, so the sync budget of a step can be
counted (tests watch it with `watch_transfers`) and kept small:
- `to_host` is the only synchronising copy: through a pinned buffer, then one wait.
- `to_device` never waits: the host tensor is staged in pinned memory and copied
  asynchronously (the caching host allocator keeps the stage alive until the copy ends).

On the `meta` device tensors hold no values; `to_host` hands back stand-in values there
(a well-conditioned square matrix or 0.5 everywhere) so a trap run can go through whole
steps. Any other synchronisation on `meta` raises, which is what the trap tests rely on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Transfer:
    """One copy through the door: which way, why, and what."""

    direction: str  # "to_host" or "to_device"
    why: str  # "step", "evaluation", "epoch", ...
    shape: tuple[int, ...]


_watchers: list[list[Transfer]] = []
_inside = 0  # > 0 while the door copies: a trap ignores copies made here


def inside_door() -> bool:
    """True while `to_host`/`to_device` copy (traps let these copies through)."""
    return _inside > 0


@contextmanager
def watch_transfers() -> Iterator[list[Transfer]]:
    """Collect every transfer made inside the block, in order."""
    log: list[Transfer] = []
    _watchers.append(log)
    try:
        yield log
    finally:
        _watchers.remove(log)


def _note(direction: str, why: str, tensor: torch.Tensor) -> None:
    for log in _watchers:
        log.append(Transfer(direction, why, tuple(tensor.shape)))


def _stand_in(tensor: torch.Tensor) -> torch.Tensor:
    shape = tuple(tensor.shape)
    dtype = tensor.dtype if tensor.dtype.is_floating_point else torch.float32
    if len(shape) == 2 and shape[0] == shape[1]:
        values = torch.eye(shape[0], dtype=dtype) + 1.0
    else:
        values = torch.full(shape, 0.5, dtype=dtype)
    return values.to(tensor.dtype)


def to_host(tensor: torch.Tensor, why: str) -> torch.Tensor:
    """`tensor` as a CPU tensor of its own (safe to keep); waits for the device once."""
    global _inside
    tensor = tensor.detach()
    _note("to_host", why, tensor)
    if tensor.device.type == "meta":
        return _stand_in(tensor)
    if tensor.device.type == "cpu":
        return tensor.clone()
    _inside += 1
    try:
        buffer = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
        buffer.copy_(tensor, non_blocking=True)
        if tensor.device.type == "cuda":
            torch.cuda.current_stream(tensor.device).synchronize()
        return buffer
    finally:
        _inside -= 1


def to_device(tensor: torch.Tensor, like: torch.Tensor, why: str = "step") -> torch.Tensor:
    """A host tensor on the device of `like` (its own dtype kept); never waits."""
    global _inside
    if tensor.device == like.device:
        return tensor
    _note("to_device", why, tensor)
    _inside += 1
    try:
        if like.device.type == "cuda":
            stage = torch.empty(tensor.shape, dtype=tensor.dtype, pin_memory=True)
            stage.copy_(tensor)
            return stage.to(like.device, non_blocking=True)
        return tensor.to(like.device)
    finally:
        _inside -= 1


def wait_for_device(device: torch.device) -> None:
    """Wait until the device has done the work queued so far (once per epoch, so the
    epoch's clock counts the device's time and not only the host's queueing)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
