"""Planning and running one job: keys per device type, and which errors become records."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
import torch

from harness.api.errors import HarnessError, InfrastructureError
from harness.api.records import JobSpec, TrainConfig, job_key
from harness.methods.resolve import registered_method
from harness.run import jobs
from harness.run.jobs import plan, run_job
from harness.run.progress import JobProgress
from harness.store import find_record
from tasks.cifar100_mtl import Cifar100MultiTask

TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=16, data="synthetic", train_size=16, test_size=16)
JOB = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="jobs-test", config=CONFIG)


def test_the_key_depends_on_the_device_type_the_job_runs_on() -> None:
    method = registered_method("equal", TASK.loss_names)
    on_cpu, on_cuda = plan(method, [JOB], "cpu")[0], plan(method, [JOB], "cuda")[0]
    assert on_cpu.key != on_cuda.key
    assert (on_cpu.device_type, on_cuda.device_type) == ("cpu", "cuda")
    assert plan(method, [JOB], CPU)[0].key == on_cpu.key
    assert plan(method, [JOB], torch.device("cuda:1"))[0].key == on_cuda.key  # the type, not the index
    assert on_cpu.key == job_key(method.spec, JOB, jobs.HARNESS_VERSION, "cpu")
    fp32 = JOB.model_copy(update={"config": CONFIG.model_copy(update={"amp": False})})
    assert plan(method, [fp32], "cuda")[0].key not in (on_cuda.key, plan(method, [fp32], "cpu")[0].key)
    with pytest.raises(HarnessError, match="unsupported device"):
        plan(method, [JOB], "meta")


def _raise(exc: BaseException):
    def fake_train(*args, **kwargs):
        raise exc

    return fake_train


def _run(planned, results: Path):
    return run_job(planned, TASK, CPU, Path("/nonexistent"), results, JobProgress("t", 1, io.StringIO()))


def test_a_job_runs_only_on_the_device_type_it_was_planned_for(tmp_path: Path) -> None:
    planned = plan(registered_method("equal", TASK.loss_names), [JOB], "cuda")[0]
    with pytest.raises(HarnessError, match="planned for cuda"):
        _run(planned, tmp_path)
    assert not (tmp_path / "runs").exists()


def test_an_out_of_memory_error_is_raised_for_a_retry_and_writes_no_record(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned = plan(registered_method("equal", TASK.loss_names), [JOB], CPU)[0]
    monkeypatch.setattr(jobs, "train", _raise(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB")))
    with pytest.raises(InfrastructureError) as caught:
        _run(planned, tmp_path)
    assert str(caught.value) == "OutOfMemoryError: CUDA out of memory. Tried to allocate 2 GiB"
    assert "Traceback" in caught.value.details
    assert find_record(tmp_path, JOB.preset, "equal", planned.key) is None


def test_a_bug_of_ours_still_becomes_a_failed_record(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    planned = plan(registered_method("equal", TASK.loss_names), [JOB], CPU)[0]
    monkeypatch.setattr(jobs, "train", _raise(RuntimeError("CUDA error: device-side assert triggered")))
    record = _run(planned, tmp_path)
    assert record.status == "failed"
    assert record.error == "internal error: RuntimeError: CUDA error: device-side assert triggered"
    assert find_record(tmp_path, JOB.preset, "equal", planned.key) is not None
