"""Run records stay readable across harness versions, and configs hash by value."""

from __future__ import annotations

import json

from harness.api import JobSpec, RunRecord, TrainConfig
from harness.store import record_path
from tests.helpers import FIXTURES, all_tasks


def test_a_record_of_harness_0_1_reads_with_its_face_settings_as_task_options() -> None:
    raw = json.loads((FIXTURES / "record-0.1-face-adience.json").read_text())
    record = RunRecord.model_validate(raw)
    assert record.job.config.options == raw["job"]["config"]["face"]
    assert record.job.variant == "fold 0" and record.job.label == "face-adience/resnet18/seed 0/fold 0"
    task = all_tasks()["face-adience"]
    assert task.options(record.job.config).fold == 0 and task.options(record.job.config).image_size == 32
    assert record_path(FIXTURES, record).name.startswith("face-adience-resnet18-seed0-fold-0-")


def test_configs_and_jobs_hash_by_value_with_their_options() -> None:
    a = TrainConfig(epochs=1, options={"fold": 1, "tta": True})
    b = TrainConfig(epochs=1, options={"tta": True, "fold": 1})
    c = TrainConfig(epochs=1, options={"fold": 2, "tta": True})
    assert a == b and len({a, b, c}) == 2
    job = JobSpec(task="t", arch="a", seed=0, preset="tiny", config=a, variant="fold 1")
    assert len({job, job.model_copy(), job.model_copy(update={"variant": "fold 2"})}) == 2
