"""The pieces of one epoch (harness.run.epoch): the single-task stage's epoch numbers, the
epoch's sums, and which errors end a run with its epochs kept."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.api.errors import SubmissionError
from harness.api.method import StepResult
from harness.api.records import EpochLog, TrainConfig
from harness.api.task import Pretraining
from harness.api.transfer import watch_transfers
from harness.methods.resolve import registered_method
from harness.run.epoch import EpochTotals, MethodFailed, Stages, method_call
from harness.run.trainer import train
from tasks.cifar100_mtl import Cifar100MultiTask

CPU = torch.device("cpu")


class StagedTask(Cifar100MultiTask):
    def pretraining(self, config: TrainConfig) -> Pretraining:
        return Pretraining(epochs=2, losses=(1,))


def test_stages_count_the_methods_epochs_from_its_own_start() -> None:
    config = TrainConfig(epochs=5, batch_size=8)
    plain = Stages.of(Cifar100MultiTask(), config)
    assert plain.alone(0) is None and plain.context(3, 0.1, False).epoch == 3
    staged = Stages.of(StagedTask(), config)
    assert [staged.alone(epoch) for epoch in range(5)] == [(1,), (1,), None, None, None]
    context = staged.context(2, 0.05, True)
    assert (context.epoch, context.total_epochs, context.lr, context.reuse_task_gradients) == (0, 3, 0.05, True)


def test_the_epoch_totals_add_steps_and_stay_on_the_host_when_made_there() -> None:
    totals = EpochTotals.zeros(2, CPU)
    losses = [torch.tensor(1.0), torch.tensor(3.0)]
    totals.add(losses, StepResult(torch.tensor(4.0), [1.0, 2.0], {"share": 0.5}))
    totals.add(losses, StepResult(torch.tensor(4.0), torch.tensor([3.0, 4.0]), {"share": torch.tensor(0.25)}))
    with watch_transfers() as transfers:
        sums = totals.on_host(torch.tensor(7.0, dtype=torch.float64))
    assert transfers == []  # nothing on a device: nothing to bring over
    assert totals.steps == 2 and sums.parameters == 7.0 and sums.extras == {"share": 0.75}
    assert totals.mean(sums.losses) == [1.0, 3.0] and totals.mean(sums.weights) == [2.0, 3.0]


def test_no_step_reports_zero_weights() -> None:
    sums = EpochTotals.zeros(3, CPU).on_host(torch.tensor(0.0, dtype=torch.float64))
    assert sums.weights.tolist() == [0.0, 0.0, 0.0] and sums.extras == {}


def test_only_a_call_into_the_method_turns_its_error_into_the_runs_end() -> None:
    error = SubmissionError("gave up")
    with pytest.raises(MethodFailed) as failed, method_call():
        raise error
    assert failed.value.error is error
    with pytest.raises(ValueError), method_call():
        raise ValueError("not the method's")


def test_a_submission_error_outside_the_method_still_propagates(tiny_config: TrainConfig, data_root: Path) -> None:
    """A callback's SubmissionError is not the method's failure: it leaves `train`."""
    task = Cifar100MultiTask()
    config = tiny_config.model_copy(update={"epochs": 1, "train_size": 64, "test_size": 64})
    combiner = registered_method("equal", task.loss_names).make_combiner(config)

    def refuse(log: EpochLog) -> None:
        raise SubmissionError("from the callback")

    with pytest.raises(SubmissionError, match="from the callback"):
        train(task, "resnet20", 0, config, combiner, CPU, data_root, on_epoch=refuse)
