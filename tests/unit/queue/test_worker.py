"""Worker slots in this process, through a real JobQueue: infrastructure errors are retried
(a bounded number of times, never blamed on the method), slots are set up by
`configure_process` and charge their share of the device."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import torch

from harness.api.records import JobSpec, RunRecord, TrainConfig
from harness.methods.resolve import registered_method
from harness.queue.jobqueue import MAX_ATTEMPTS, JobQueue
from harness.queue.worker import entry_for, run_one, slot_main
from harness.run import jobs
from harness.run.devices import slot_threads
from harness.run.jobs import plan
from harness.store import find_record
from tasks.cifar100_mtl import Cifar100MultiTask

TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
OOM = "CUDA out of memory. Tried to allocate 20.00 MiB (GPU 0; a neighbour holds 79 GiB)"


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one CPU thread, as one slot of several


def queued(tmp_path: Path, data_root: Path, epochs: int = 1, device: str = "cpu", seed: int = 0, **queue_options):
    config = TrainConfig(epochs=epochs, batch_size=8, data="synthetic", train_size=16, test_size=16)
    job = JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="worker-test", config=config)
    planned = plan(registered_method("equal", TASK.loss_names), [job], device)[0]
    queue = JobQueue(tmp_path / "queue", **queue_options)
    assert queue.enqueue(entry_for(planned, queue, tmp_path / "results", data_root))
    return queue, planned


def record_of(tmp_path: Path, planned) -> RunRecord | None:
    return find_record(tmp_path / "results", planned.job.preset, planned.method.spec.name, planned.key)


def test_an_out_of_memory_error_requeues_the_job_which_then_resumes_and_finishes(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The trainer (faked only in raising: no GPU here) runs out of memory in the second
    epoch; the job goes back to pending with its checkpoint, and its next attempt resumes
    after epoch 1 and ends done with one ok record."""
    queue, planned = queued(tmp_path, data_root, epochs=2, retry_seconds=0)
    real_train = jobs.train
    epochs_trained: list[list[int]] = []

    def flaky_train(*args, on_step, on_epoch, **kwargs):
        calls = len(epochs_trained)
        epochs_trained.append([])
        steps = []

        def step(step: int, total: int) -> None:
            steps.append(step)
            if calls == 0 and len(steps) > total:  # the first step of the second epoch
                raise torch.OutOfMemoryError(OOM)
            on_step(step, total)

        def epoch(log) -> None:
            epochs_trained[calls].append(log.epoch)
            on_epoch(log)

        return real_train(*args, on_step=step, on_epoch=epoch, **kwargs)

    monkeypatch.setattr(jobs, "train", flaky_train)
    first = queue.claim("w", "cpu")
    assert run_one(queue, first, CPU, "[t]") == "requeued"
    assert queue.state_of(planned.key) == "pending" and record_of(tmp_path, planned) is None
    assert queue.checkpoint_path(planned.key).exists()
    waiting = queue.entries("pending")[0]
    assert waiting.attempts == 1 and waiting.last_error == f"OutOfMemoryError: {OOM}"

    second = queue.claim("w", "cpu")
    assert run_one(queue, second, CPU, "[t]") == "done"
    assert epochs_trained == [[0], [1]]  # the retry resumed from the checkpoint
    assert queue.state_of(planned.key) == "done" and queue.entries("done")[0].attempts == 2
    record = record_of(tmp_path, planned)
    assert record is not None and record.status == "ok" and [e.epoch for e in record.epochs] == [0, 1]
    assert not queue.checkpoint_path(planned.key).exists()


def test_a_lasting_out_of_memory_error_fails_the_job_after_three_attempts_as_the_machines_fault(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue, planned = queued(tmp_path, data_root, retry_seconds=0)
    calls = []

    def out_of_memory(*args, **kwargs):
        calls.append(1)
        raise torch.OutOfMemoryError(OOM)

    monkeypatch.setattr(jobs, "train", out_of_memory)
    ends = [run_one(queue, queue.claim("w", "cpu"), CPU, "[t]") for _ in range(MAX_ATTEMPTS)]
    assert ends == ["requeued", "requeued", "failed"] and len(calls) == MAX_ATTEMPTS == 3
    assert queue.claim("w", "cpu") is None and queue.counts()["failed"] == 1
    record = record_of(tmp_path, planned)
    assert record is not None and record.status == "failed"
    assert record.error == f"infrastructure error after 3 attempts: OutOfMemoryError: {OOM}"
    assert "Traceback" in record.error_details


def test_a_job_whose_workers_keep_dying_stops_after_three_attempts(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Killed workers never report: their leases run out. The fourth claim does not train
    again; it records the job as failed by the machine."""
    queue, planned = queued(tmp_path, data_root, lease_seconds=0.1, retry_seconds=0)
    monkeypatch.setattr(jobs, "train", lambda *a, **k: pytest.fail("a fourth attempt was started"))
    for index in range(MAX_ATTEMPTS):
        assert queue.claim(f"worker-{index}", "cpu").attempts == index + 1  # then it dies
        time.sleep(0.15)
    last = queue.claim("worker-3", "cpu")
    assert last.attempts == MAX_ATTEMPTS + 1
    assert run_one(queue, last, CPU, "[t]") == "failed"
    record = record_of(tmp_path, planned)
    assert record is not None and record.status == "failed"
    assert record.error.startswith("infrastructure error after 3 attempts: worker worker-2 stopped renewing its lease")
    assert queue.counts()["failed"] == 1


def test_an_in_process_slot_is_configured_like_a_spawned_one_and_charges_its_share(
    tmp_path: Path, data_root: Path
) -> None:
    """A slot of a 2-slot device: the thread count `slot_threads` gives for 2 slots (the
    spawned slots of tests/integration/test_workers.py record the same function's value),
    half the wall time in device-hours, and a CUDA job it must leave to a GPU worker (it
    still stops when nothing of its own is left)."""
    queue, planned = queued(tmp_path, data_root)
    gpu_queue, gpu_job = queued(tmp_path, data_root, device="cuda", seed=1)
    threads = slot_threads(2)
    torch.set_num_threads(threads + 1)  # what an unconfigured slot would record
    assert slot_main(str(queue.root), "cpu", "cpu#0", 60.0, True, 0.05, slots_per_device=2, threads=threads) == 0
    assert queue.state_of(planned.key) == "done" and queue.state_of(gpu_job.key) == "pending"
    record = record_of(tmp_path, planned)
    assert record is not None and record.status == "ok"
    assert record.environment.threads == threads and record.environment.slots_per_device == 2
    assert record.device_hours == pytest.approx(record.wall_seconds / 3600 / 2)
