"""Checkpoints: exact resume in-process, no unpickling of arbitrary objects, loss state codec."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from harness.api.records import TrainConfig
from harness.methods.loss_level import InProcessLossRunner, LossLevelCombiner
from harness.methods.resolve import registered_method
from harness.oracle.guest.codec import UnsupportedState, decode, encode
from harness.oracle.guest.loader import load_submission
from harness.run.checkpoint import CheckpointError, load_checkpoint
from harness.run.trainer import train
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import write_submission

TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=3, batch_size=64, data="synthetic", train_size=192, test_size=100)


class Stop(Exception):
    pass


def stop_after(epoch: int):
    def hook(log) -> None:
        if log.epoch == epoch:
            raise Stop()

    return hook


def comparable(outcome) -> list[dict]:
    return [e.model_dump(exclude={"seconds", "images_per_second"}) for e in outcome.epochs]


@pytest.mark.parametrize("name", ["uncertainty", "pcgrad", "db-mtl", "famo", "imtl", "gradnorm"])
def test_interrupted_run_resumes_to_the_same_numbers(name: str, tmp_path: Path, data_root: Path) -> None:
    make = lambda: registered_method(name, TASK.loss_names).make_combiner(CONFIG)  # noqa: E731
    full = train(TASK, "resnet20", 1, CONFIG, make(), CPU, data_root)
    checkpoint = tmp_path / "ck.pt"
    with pytest.raises(Stop):
        train(TASK, "resnet20", 1, CONFIG, make(), CPU, data_root, on_epoch=stop_after(0), checkpoint=checkpoint)
    resumed = train(TASK, "resnet20", 1, CONFIG, make(), CPU, data_root, checkpoint=checkpoint)
    assert resumed.resumed_from == 1
    assert comparable(resumed) == comparable(full)


class Exploit:
    def __reduce__(self):
        return (print, ("pwned",))


def test_checkpoint_with_pickled_code_is_refused(tmp_path: Path, data_root: Path) -> None:
    path = tmp_path / "evil.pt"
    torch.save({"format": 1, "payload": Exploit()}, path)
    with pytest.raises(CheckpointError, match="Unpickl|weights_only|GLOBAL"):
        load_checkpoint(path)
    combiner = registered_method("equal", TASK.loss_names).make_combiner(CONFIG)
    outcome = train(TASK, "resnet20", 1, CONFIG, combiner, CPU, data_root, checkpoint=path)
    assert outcome.resumed_from is None and len(outcome.epochs) == 3
    assert any("checkpoint ignored" in note for note in outcome.notes)


def test_codec_round_trip_and_refusal() -> None:
    value = {"history": [torch.tensor([1.5, float("nan")]), 2], "flag": (True, None), "inf": float("inf")}
    back = decode(json.loads(json.dumps(encode(value))))
    assert torch.equal(back["history"][0][:1], torch.tensor([1.5])) and torch.isnan(back["history"][0][1])
    assert back["history"][1] == 2 and back["flag"] == (True, None) and back["inf"] == float("inf")
    with pytest.raises(UnsupportedState, match="set"):
        encode({"seen": {1, 2}})


def test_loss_with_unsaveable_state_trains_without_checkpoints(tmp_path: Path, data_root: Path) -> None:
    path = write_submission(
        tmp_path,
        "import torch.nn as nn\n\nclass MultiTaskLoss(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.seen = set()\n\n"
        "    def forward(self, fine_loss, coarse_loss, epoch, total_epochs):\n"
        "        self.seen.add(epoch)\n        return fine_loss + coarse_loss\n",
    )
    loaded = load_submission(path, ("fine", "coarse"))
    combiner = LossLevelCombiner(InProcessLossRunner(loaded.loss_class, path, CONFIG))
    checkpoint = tmp_path / "ck.pt"
    outcome = train(TASK, "resnet20", 1, CONFIG, combiner, CPU, data_root, checkpoint=checkpoint)
    assert outcome.error is None and len(outcome.epochs) == 3
    assert not checkpoint.exists() and any("no checkpoints" in note for note in outcome.notes)
