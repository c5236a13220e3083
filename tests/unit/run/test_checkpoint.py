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


@pytest.mark.parametrize(
    "name",
    [
        "uncertainty",
        "pcgrad",
        pytest.param("db-mtl", marks=pytest.mark.slow),  # quick: uncertainty (loss level), pcgrad (gradient level)
        pytest.param("famo", marks=pytest.mark.slow),
        pytest.param("imtl", marks=pytest.mark.slow),
        pytest.param("gradnorm", marks=pytest.mark.slow),
    ],
)
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


class FakeCudaGenerators:
    """Per-device CUDA generator states (no GPU here): what get/set touched, and when."""

    def __init__(self, count: int) -> None:
        self.states = {index: torch.full((4,), index, dtype=torch.uint8) for index in range(count)}
        self.calls: list[str] = []

    def get_rng_state(self, device: torch.device) -> torch.Tensor:
        self.calls.append(f"get {device}")
        return self.states[torch.device(device).index].clone()

    def set_rng_state(self, state: torch.Tensor, device: torch.device) -> None:
        self.calls.append(f"set {device}")
        index = torch.device(device).index
        if index not in self.states:
            raise RuntimeError(f"invalid device {device}")
        self.states[index] = state.clone()

    def all_devices(self, *args: object) -> None:
        raise AssertionError("the job's checkpoint must not touch every GPU's generator")


def test_cuda_generator_state_follows_the_job_to_another_gpu(monkeypatch: pytest.MonkeyPatch) -> None:
    """Saved on cuda:1 of a 2-GPU machine, restored on cuda:0 of a 1-GPU machine: the job's
    own stream lands in the generator it now uses (saving all devices' states used to put it
    in cuda:1's, and fail where there is no cuda:1)."""
    from harness.run.seeding import device_rng_state, restore_device_rng

    saving = FakeCudaGenerators(2)
    for name in ("get_rng_state", "set_rng_state"):
        monkeypatch.setattr(torch.cuda, name, getattr(saving, name))
    monkeypatch.setattr(torch.cuda, "get_rng_state_all", saving.all_devices)
    monkeypatch.setattr(torch.cuda, "set_rng_state_all", saving.all_devices)
    saved = device_rng_state(torch.device("cuda:1"))
    assert [state.tolist() for state in saved] == [[1, 1, 1, 1]]

    resuming = FakeCudaGenerators(1)
    monkeypatch.setattr(torch.cuda, "set_rng_state", resuming.set_rng_state)
    restore_device_rng(torch.device("cuda:0"), saved)
    assert resuming.calls == ["set cuda:0"]
    assert resuming.states[0].tolist() == [1, 1, 1, 1]
    assert device_rng_state(CPU) == []  # nothing to save off CUDA
