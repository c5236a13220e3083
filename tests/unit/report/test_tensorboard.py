"""--tensorboard: run records as TensorBoard event files, read back with TensorBoard's reader."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api.records import Protocol
from harness.report.tensorboard import export_records, run_folder
from tests.unit.report.test_leaderboard_and_store import record

pytest.importorskip("tensorboard")


def scalars(folder: Path) -> dict[str, list[tuple[int, float]]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder))
    events.Reload()
    return {tag: [(e.step, e.value) for e in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_records_become_event_files_once(tmp_path: Path) -> None:
    first = record("equal", "resnet20", 1, 61.5)
    first.epochs[0].train_losses.update({"fine": 2.5, "coarse": 1.25})
    first.epochs[0].task_weights.update({"fine": 1.0, "coarse": 0.5})
    second = record("mine", "resnet56", 2, 70.25, "agent")
    assert export_records([first, second], tmp_path) == 2
    folder = run_folder(tmp_path, first)
    assert folder == tmp_path / "dev" / "equal" / "cifar100-mtl-resnet20-seed1"
    got = scalars(folder)
    assert got["test/fine_acc"] == [(0, 61.5)]
    assert got["train_loss/fine"] == [(0, 2.5)] and got["task_weight/coarse"] == [(0, 0.5)]
    assert scalars(run_folder(tmp_path, second))["test/fine_acc"] == [(0, 70.25)]
    # exported again: nothing new is written, the curves are not doubled
    assert export_records([first, second], tmp_path) == 0
    assert scalars(folder)["test/fine_acc"] == [(0, 61.5)]
    # a newer record of the same run replaces the curves
    newer = record("equal", "resnet20", 1, 62.0, finished="2026-02-01T00:00:00")
    newer = newer.model_copy(update={"key": "f" * 64})
    assert export_records([newer], tmp_path) == 1
    assert scalars(folder)["test/fine_acc"] == [(0, 62.0)]


def test_a_heldout_screen_of_the_same_run_gets_its_own_folder(tmp_path: Path) -> None:
    standard = record("equal", "resnet20", 1, 61.5)
    protocol = Protocol(epochs=1, evaluation="heldout")
    job = standard.job.model_copy(update={"protocol": protocol, "config": protocol.apply(standard.job.config)})
    screened = standard.model_copy(update={"job": job, "key": "e" * 64, "best_primary": 40.0})
    assert export_records([standard, screened], tmp_path) == 2
    folder = run_folder(tmp_path, screened)
    assert folder == tmp_path / "dev-epochs-1-heldout" / "equal" / "cifar100-mtl-resnet20-seed1"
    assert "val/fine_acc" in scalars(folder) and "test/fine_acc" not in scalars(folder)  # scored on validation
    assert scalars(run_folder(tmp_path, standard))["test/fine_acc"] == [(0, 61.5)]  # the standard run stays
