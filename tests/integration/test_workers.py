"""Workers through the real CLI: many slots, a killed worker, concurrent submits."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import torch

from harness.api.records import JobSpec, TrainConfig
from harness.api.sandbox import OracleLimits
from harness.methods.resolve import registered_method, submission_method
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.choose import choose_sandbox
from harness.queue.jobqueue import JobQueue
from harness.queue.worker import entry_for
from harness.run.devices import slot_threads
from harness.run.jobs import plan, run_job
from harness.run.progress import JobProgress
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import PYTHON, REPO

pytestmark = pytest.mark.slow  # many jobs through real workers; quick: tests/unit/queue/

TASK = Cifar100MultiTask()


def worker(results: Path, *extra: str, **popen: object) -> subprocess.Popen:
    return subprocess.Popen(
        [PYTHON, "runner.py", "worker", "--devices", "cpu", "--results", str(results), "--exit-when-idle", *extra],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        **popen,
    )


def record_files(results: Path) -> list[Path]:
    return sorted((results / "runs").rglob("*.json"))


def test_three_slots_run_twenty_jobs_exactly_once(tmp_path: Path, data_root: Path) -> None:
    """Three spawned CPU slots share the queue: each job runs once, each slot is set up by
    `configure_process` with `slot_threads(3)` threads (the in-process slot of
    tests/unit/queue/test_worker.py records the same function's value), each record is
    charged a third of its wall time, and a job planned for CUDA is left for a GPU worker."""
    config = TrainConfig(epochs=1, batch_size=64, data="synthetic", train_size=64, test_size=50)
    jobs = [JobSpec(task=TASK.name, arch="resnet20", seed=s, preset="queue-test", config=config) for s in range(20)]
    queue = JobQueue(tmp_path / "queue")
    method = registered_method("equal", TASK.loss_names)
    gpu_job = plan(method, jobs[:1], "cuda")[0]
    assert queue.enqueue(entry_for(gpu_job, queue, tmp_path, data_root))  # the oldest job in the queue
    for item in plan(method, jobs, "cpu"):
        assert queue.enqueue(entry_for(item, queue, tmp_path, data_root))
    done = worker(tmp_path, "--slots-per-device", "3")
    output, _ = done.communicate(timeout=400)
    assert done.returncode == 0, output
    assert queue.counts() == {"pending": 1, "running": 0, "done": 20, "failed": 0, "cancelled": 0}
    assert queue.state_of(gpu_job.key) == "pending"
    assert all(e.attempts == 1 for e in queue.entries("done"))
    records = [json.loads(p.read_text()) for p in record_files(tmp_path)]
    assert len(records) == 20 and {r["job"]["seed"] for r in records} == set(range(20))
    assert all(r["status"] == "ok" and len(r["epochs"]) == 1 for r in records)
    assert len({line.split("]")[0] for line in output.splitlines() if line.startswith("[cpu#")}) == 3
    threads = slot_threads(3)
    assert f"worker: 3 slot(s) on cpu, {threads} CPU thread(s) per slot" in output
    assert {(r["environment"]["threads"], r["environment"]["slots_per_device"]) for r in records} == {(threads, 3)}
    assert all(r["device_hours"] == pytest.approx(r["wall_seconds"] / 3600 / 3) for r in records)


def comparable(record) -> list[dict]:
    return [e.model_dump(exclude={"seconds", "images_per_second"}) for e in record.epochs]


@pytest.mark.skipif(BwrapSandbox.available() is not None, reason="needs bwrap for the oracle")
def test_killed_worker_job_resumes_with_identical_result(tmp_path: Path, data_root: Path) -> None:
    """kill -9 a worker mid-job (DWA as an untrusted submission, so the oracle's state must
    come back too); the job is reclaimed after the lease, resumes from its checkpoint and
    ends exactly as an uninterrupted run, with one record."""
    config = TrainConfig(epochs=4, batch_size=64, data="synthetic", train_size=256, test_size=100)
    job = JobSpec(task=TASK.name, arch="resnet20", seed=5, preset="queue-test", config=config)
    sandbox = choose_sandbox("bwrap")
    method = submission_method(
        REPO / "baselines" / "dwa.py", "dwa-file", "submission", TASK.loss_names, sandbox, OracleLimits(), check=False
    )
    planned = plan(method, [job])[0]
    reference = run_job(
        planned,
        TASK,
        torch.device("cpu"),
        data_root,
        tmp_path / "reference",
        JobProgress("reference", 4, io.StringIO()),
    )

    results = tmp_path / "results"
    queue = JobQueue(results / "queue", lease_seconds=2)
    queue.enqueue(entry_for(planned, queue, results, data_root))
    victim = worker(results, "--lease", "2", start_new_session=True)
    checkpoint = queue.checkpoint_path(planned.key)
    deadline = time.monotonic() + 120
    while not checkpoint.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert checkpoint.exists(), "no checkpoint appeared"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    assert queue.state_of(planned.key) == "running"  # the dead worker still holds the lease

    rescuer = worker(results, "--lease", "2")
    output, _ = rescuer.communicate(timeout=300)
    assert rescuer.returncode == 0, output
    assert "resumed after epoch" in output
    files = record_files(results)
    assert len(files) == 1
    from harness.api.records import RunRecord

    resumed = RunRecord.model_validate_json(files[0].read_bytes())
    assert resumed.status == "ok" and comparable(resumed) == comparable(reference)
    assert queue.entries("done")[0].attempts == 2
    assert reference.epochs[3].task_weights["fine"] != 1.0  # DWA's history mattered


def test_two_submits_at_once_share_the_job(tmp_path: Path, data_root: Path) -> None:
    command = [
        PYTHON,
        "runner.py",
        "submit",
        "submissions/example_loss.py",
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "cifar100-mtl",
        "--results",
        str(tmp_path),
        "--data-root",
        str(data_root),
    ]
    first = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    second = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out_first, _ = first.communicate(timeout=400)
    out_second, _ = second.communicate(timeout=400)
    assert first.returncode == 0, out_first
    assert second.returncode == 0, out_second
    assert len(record_files(tmp_path)) == 1
    assert "| example_loss | submission |" in out_first and "| example_loss | submission |" in out_second
    assert JobQueue(tmp_path / "queue").counts()["done"] == 1
