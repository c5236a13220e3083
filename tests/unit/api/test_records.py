"""Run records stay readable across harness versions, and configs hash by value."""

from __future__ import annotations

import json

from harness.api import JobSpec, MethodKind, RunRecord, TrainConfig
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


def test_records_with_each_kind_string_read_as_the_kind_enum_and_write_it_back_unchanged() -> None:
    """Records name a method's kind as a string; MethodKind (a str enum) reads every value
    they hold, the trusted gradient-level combiners' "gradient" included, and writes it
    back as the same string (it is part of the cache key)."""
    raw = json.loads((FIXTURES / "record-0.1-face-adience.json").read_text())
    for value in ("loss_module", "gradient", "gradient_module", "gram_module", "loss_combiner"):
        data = {**raw, "method": {**raw["method"], "kind": value}}
        record = RunRecord.model_validate(data)
        assert record.method.kind is MethodKind(value) and record.method.kind == value
        assert json.loads(record.model_dump_json())["method"]["kind"] == value
        assert RunRecord.model_validate_json(record.model_dump_json()) == record
    assert RunRecord.model_validate(raw).method.kind is MethodKind.LOSS_MODULE
