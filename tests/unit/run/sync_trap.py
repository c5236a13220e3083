"""A trap for synchronisations and stray copies: train on the `meta` device.

Meta tensors hold no values, so anything that reads one on the host (`.item()`, `.tolist()`,
`.cpu()`, `bool(t)`, `float(t)`) raises, and so does an operation mixing meta and CPU
tensors. Copies that do not read values (a host tensor sent to the device) do not raise,
so `CopyTrap` records each one made outside the door (`harness.api.transfer`), and
`watch_transfers` records the door's own. Step boundaries come from the trainer's step
callback, so the budget is checked per step.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._pytree import tree_leaves

from harness import registry
from harness.api.transfer import Transfer, inside_door, watch_transfers
from harness.methods.resolve import registered_method
from harness.run.trainer import train

META = torch.device("meta")
_MOVES = {torch.Tensor.to, torch.Tensor.cuda, torch.Tensor.cpu, torch.Tensor.copy_, torch.tensor, torch.as_tensor}


def _devices(value: object) -> set[str]:
    """Device types of the tensors in `value` with more than one element (a 0-dim host
    tensor is a scalar argument, which needs no copy)."""
    return {t.device.type for t in tree_leaves(value) if isinstance(t, torch.Tensor) and t.dim() > 0}


class CopyTrap(TorchFunctionMode):
    """Records, outside the door, every call that moves a tensor between devices or mixes
    host and device tensors (an index on the host used on the device copies it). A
    function mode sees the Python-level calls only, which is where such copies are written,
    and it keeps the meta kernels fast (a dispatch mode would decompose every op)."""

    def __init__(self) -> None:
        super().__init__()
        self.copies: list[str] = []

    def __torch_function__(self, func, types, args=(), kwargs=None):  # type: ignore[no-untyped-def]
        kwargs = kwargs or {}
        result = func(*args, **kwargs)
        if inside_door():
            return result
        name = getattr(func, "__name__", str(func))
        if func in _MOVES:
            source, target = (args[1:2], args[0]) if func is torch.Tensor.copy_ else (args[:1], result)
            before = {t.device.type for t in tree_leaves(source) if isinstance(t, torch.Tensor)} or {"cpu"}
            after = {target.device.type} if isinstance(target, torch.Tensor) else before
            if before != after:
                self.copies.append(f"{name}: {sorted(before)} -> {sorted(after)}")
        elif len(_devices((args, kwargs))) > 1:
            self.copies.append(f"{name} mixes {sorted(_devices((args, kwargs)))}")
        return result


@dataclass
class StepWindow:
    """What crossed between the host and the device from one step's end to the next."""

    epoch_end: bool
    transfers: list[Transfer] = field(default_factory=list)
    stray_copies: list[str] = field(default_factory=list)

    def count(self, direction: str, why: str | None = None) -> int:
        return sum(1 for t in self.transfers if t.direction == direction and (why is None or t.why == why))


def trapped_windows(task_name: str, method_name: str, data_root: Path, **config_changes: object) -> list[StepWindow]:
    """Train the tiny preset on `meta` (2 epochs of 2 steps of 8 images: meta kernels run
    in Python, so every op costs) and return the windows from each step's
    end to the next step's end (the set-up before the first step's end is left out); a
    window holding an epoch's end (evaluation, the epoch's sums) says so."""
    task = registry.tasks.get(task_name)
    config, archs, _ = task.preset("tiny")
    config = task.variants(task.configure(config, {}))[0].model_copy(
        update={"epochs": 2, "batch_size": 8, "train_size": 16, "test_size": 8, **config_changes}
    )
    combiner = registered_method(method_name, task.loss_names, task_name).make_combiner(config)
    copy_trap = CopyTrap()
    marks: list[tuple[str, int, int]] = []  # (step or epoch, door transfers so far, stray copies so far)
    with watch_transfers() as log:

        def mark(kind: str) -> None:
            marks.append((kind, len(log), len(copy_trap.copies)))

        with copy_trap:
            outcome = train(
                task,
                archs[0],
                0,
                config,
                combiner,
                META,
                data_root,
                on_epoch=lambda _: mark("epoch"),
                on_step=lambda step, steps: mark("step"),
            )
    combiner.close()
    assert outcome.error is None, outcome.error
    stray = copy_trap.copies
    windows: list[StepWindow] = []
    step_marks = [i for i, (kind, _, _) in enumerate(marks) if kind == "step"]
    ends = [*step_marks[1:], len(marks) - 1]  # the last window runs to the final epoch's end
    for begin, end in zip(step_marks, ends):
        epoch_end = any(kind == "epoch" for kind, _, _ in marks[begin + 1 : end + 1])
        (_, t0, c0), (_, t1, c1) = marks[begin], marks[end]
        windows.append(StepWindow(epoch_end, list(log[t0:t1]), stray[c0:c1]))
    return windows
