"""The sync budget of a training step, for every registered method, on the meta trap
(tests/unit/run/sync_trap.py): at most one wait on the device per step (the values a host
computation needs), at most one copy back, none other; one transfer per evaluation pass."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness import registry
from tests.unit.run.sync_trap import StepWindow, trapped_windows

CIFAR = "cifar100-mtl"


def assert_step_budget(windows: list[StepWindow]) -> None:
    assert len(windows) == 4, "2 epochs of 2 steps: 4 windows (one in an epoch, two across an epoch end, the last)"
    for number, window in enumerate(windows):
        where = f"window {number} ({'with' if window.epoch_end else 'no'} epoch end)"
        assert window.stray_copies == [], f"{where}: copies outside harness.api.transfer: {window.stray_copies}"
        assert window.count("to_host", "step") <= 1, f"{where}: {window.transfers}"
        assert window.count("to_device", "step") <= 1, f"{where}: {window.transfers}"
        if window.epoch_end:
            assert window.count("to_host", "evaluation") == 1, f"{where}: {window.transfers}"
            assert window.count("to_host", "epoch") <= 1, f"{where}: {window.transfers}"
            assert window.count("to_device", "epoch") <= 1, f"{where}: {window.transfers}"
        else:
            assert window.count("to_host") == window.count("to_host", "step"), f"{where}: {window.transfers}"


@pytest.mark.parametrize("method", sorted(registry.methods.names()))
def test_every_method_keeps_the_sync_budget(method: str, data_root: Path) -> None:
    task = registry.tasks.get(CIFAR)
    if registry.methods.get(method).refusal(len(task.loss_names)):
        pytest.skip(f"{method} does not run on {CIFAR}")
    assert_step_budget(trapped_windows(CIFAR, method, data_root))


@pytest.mark.parametrize("task", ["face-age-gender", "face-adience"])
@pytest.mark.parametrize("method", ["equal", "mgda-ub"])
def test_face_tasks_keep_the_sync_budget(task: str, method: str, data_root: Path) -> None:
    assert_step_budget(trapped_windows(task, method, data_root))


def test_nash_mtl_reusing_task_gradients_keeps_the_budget(data_root: Path) -> None:
    assert_step_budget(trapped_windows(CIFAR, "nash-mtl", data_root, reuse_task_gradients=True))


def test_the_trap_catches_a_sync_and_a_stray_copy(data_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The trap is not blind: a `.tolist()` on the device raises, and a per-step copy of
    the task weights (what the loss-level path did before) is recorded."""
    import torch

    from harness.methods import loss_level

    def reads_on_the_host(self, losses, context):  # type: ignore[no-untyped-def]
        return torch.stack(losses).tolist()

    monkeypatch.setattr(loss_level.LossLevelCombiner, "backward", reads_on_the_host)
    with pytest.raises((RuntimeError, NotImplementedError)):
        trapped_windows(CIFAR, "equal", data_root)
    monkeypatch.undo()

    original = loss_level.LossLevelCombiner.backward

    def copies_weights(self, losses, context):  # type: ignore[no-untyped-def]
        result = original(self, losses, context)
        [torch.tensor(1.0, device=loss.device) for loss in losses]
        return result

    monkeypatch.setattr(loss_level.LossLevelCombiner, "backward", copies_weights)
    windows = trapped_windows(CIFAR, "equal", data_root)
    assert all(len(window.stray_copies) == 2 for window in windows[:-1])  # the last: the final evaluation
