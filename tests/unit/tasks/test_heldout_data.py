"""Under `--protocol heldout` the built-in tasks score a split carved out of their training
set and never read (CIFAR-100) or decode (faces) a test image."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import tasks.face_age_gender as face_module
from harness.api import Protocol, training_subsets
from harness.run.jobs import expand_jobs
from tasks.cifar100_mtl import cifar_files
from tests.helpers import all_tasks

TASKS = all_tasks()
HELDOUT = Protocol(evaluation="heldout")


def test_cifar_heldout_scores_training_images_and_never_reads_the_test_split(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    task = TASKS["cifar100-mtl"]
    read: list[str] = []
    real_read = cifar_files.read_split
    monkeypatch.setattr(cifar_files, "read_split", lambda root, name: read.append(name) or real_read(root, name))
    (job,) = expand_jobs(task, "tiny", None, None, protocol=HELDOUT)
    data = task.load_data(job.config, torch.device("cpu"), data_root)
    assert read == ["train"]
    train = real_read(task.data_dir(job.config, data_root), "train")
    subsets = training_subsets(len(train.images), job.config)
    assert subsets.evaluation is not None
    assert torch.equal(data.test.images, torch.from_numpy(train.images[subsets.evaluation]))  # type: ignore[attr-defined]
    assert torch.equal(data.train.images, torch.from_numpy(train.images[subsets.train]))  # type: ignore[attr-defined]
    (standard,) = expand_jobs(task, "tiny", None, None)
    read.clear()
    task.load_data(standard.config, torch.device("cpu"), data_root)
    assert read == ["train", "test"]


def test_face_heldout_never_decodes_a_test_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    task = TASKS["face-age-gender"]
    decoded: list[Path] = []
    real_decode = face_module.decode_all

    def recording(paths: list[Path], *args: object) -> torch.Tensor:
        decoded.extend(paths)
        return real_decode(paths, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(face_module, "decode_all", recording)
    (job,) = expand_jobs(task, "tiny", None, None, protocol=HELDOUT)
    task.prepare_data(job.config, tmp_path)
    train, test = task.train_test(task.read(job.config, tmp_path).samples, job.config)
    data = task.load_data(job.config, torch.device("cpu"), tmp_path)
    assert decoded and not set(decoded) & {s.path for s in test}
    assert set(decoded) <= {s.path for s in train}
    assert data.train_size == min(job.config.train_size or len(train), len(train) - round(len(train) * 0.1))
