"""The trusted trainer: determinism, learning on the synthetic set, failures mid-run."""

from pathlib import Path

import pytest
import torch

from harness.api.records import TrainConfig
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner
from harness.methods.resolve import registered_method
from harness.oracle.guest.loader import load_submission
from harness.run.trainer import train
from tasks.cifar100_mtl import PRESETS, Cifar100MultiTask
from tests.helpers import write_submission

CPU = torch.device("cpu")
TASK = Cifar100MultiTask()


def run(name: str, config: TrainConfig, data_root: Path, seed: int = 0):
    method = registered_method(name, TASK.loss_names)
    return train(TASK, "resnet20", seed, config, method.make_combiner(config), CPU, data_root)


def numbers(outcome) -> list:
    return [(e.train_losses, e.task_weights, e.test_metrics) for e in outcome.epochs]


@pytest.mark.slow  # three trainings; quick: test_pcgrad_is_deterministic_and_records_conflicts, test_numbers_unchanged.py
def test_same_seed_gives_the_same_numbers(tiny_config: TrainConfig, data_root: Path) -> None:
    first = run("uncertainty", tiny_config, data_root, seed=3)
    second = run("uncertainty", tiny_config, data_root, seed=3)
    assert len(first.epochs) == 2 and first.error is None
    assert numbers(first) == numbers(second)
    other = run("uncertainty", tiny_config, data_root, seed=4)
    assert numbers(other) != numbers(first)


def test_pcgrad_is_deterministic_and_records_conflicts(tiny_config: TrainConfig, data_root: Path) -> None:
    first = run("pcgrad", tiny_config, data_root, seed=1)
    assert numbers(first) == numbers(run("pcgrad", tiny_config, data_root, seed=1))
    assert 0.0 <= first.epochs[0].test_metrics["conflict_fraction"] <= 1.0


def test_epoch_log_has_losses_weights_and_metrics(tiny_config: TrainConfig, data_root: Path) -> None:
    outcome = run("uncertainty", tiny_config, data_root)
    log = outcome.epochs[0]
    assert set(log.train_losses) == {"fine", "coarse"} and set(log.task_weights) == {"fine", "coarse"}
    assert {"fine_acc", "coarse_acc", "fine_loss", "coarse_loss"} <= set(log.test_metrics)
    assert log.task_weights["fine"] != 1.0  # uncertainty weights move with the log-variances
    assert outcome.epochs[1].lr < outcome.epochs[0].lr == pytest.approx(0.1)  # cosine annealing


@pytest.mark.slow  # a smoke-preset training; quick: test_numbers_unchanged.py (the same numbers as before)
def test_resnet20_learns_the_smoke_set_clearly_above_chance(data_root: Path) -> None:
    config = PRESETS["smoke"][0]
    outcome = run("equal", config, data_root)
    best_fine = max(e.test_metrics["fine_acc"] for e in outcome.epochs)
    best_coarse = max(e.test_metrics["coarse_acc"] for e in outcome.epochs)
    assert best_fine > 5.0, best_fine  # chance: 1 %
    assert best_coarse > 25.0, best_coarse  # chance: 5 %


def test_submission_failing_mid_run_keeps_finished_epochs(
    tmp_path: Path, tiny_config: TrainConfig, data_root: Path
) -> None:
    path = write_submission(
        tmp_path,
        "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        if epoch == 1 and total_epochs == 2:\n"
        "            raise ValueError('gave up')\n"
        "        return fine_loss + coarse_loss\n",
    )
    loaded = load_submission(path, ("fine", "coarse"))
    combiner = LossLevelCombiner(InProcessLossRunner(loaded.loss_class, path, tiny_config))
    outcome = train(TASK, "resnet20", 0, tiny_config, combiner, CPU, data_root)
    assert len(outcome.epochs) == 1
    assert outcome.error is not None and "ValueError: gave up" in str(outcome.error)
