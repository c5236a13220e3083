"""A queued job whose method cannot be built (an unknown method, a submission file queued as
a baseline, a submission whose copy is gone) fails with a record saying why; the job leaves
`running/` and the worker goes on to the next job."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest
import torch

from harness.api.records import JobSpec, MethodSpec, RunRecord, TrainConfig, job_key
from harness.queue.jobqueue import JobQueue, QueueEntry
from harness.queue.worker import run_one, slot_main
from harness.store import find_record
from harness.version import HARNESS_VERSION
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import REPO

TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=8, data="synthetic", train_size=16, test_size=16)


pytestmark = pytest.mark.usefixtures("one_thread")  # conftest.py: one CPU thread, as one slot of several


def queued(
    tmp_path: Path,
    data_root: Path,
    name: str,
    entry_type: str,
    copy: Path | None,
    seed: int = 0,
    sha256: str | None = None,
) -> QueueEntry:
    """A job in the queue at tmp_path/queue, as `enqueue` would hold it."""
    spec = MethodSpec(
        name=name,
        entry_type=entry_type,
        kind="loss_module",
        source_path="x.py",
        source_sha256=sha256 or name.ljust(64, "0"),
    )
    job = JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="worker-test", config=CONFIG)
    entry = QueueEntry(
        key=job_key(spec, job, HARNESS_VERSION),
        method=spec,
        job=job,
        submission_copy=None if copy is None else str(copy),
        sandbox=None if copy is None else "process",
        results=str(tmp_path / "results"),
        data_root=str(data_root),
        enqueued_at=time.time(),
        device_type="cpu",
    )
    assert JobQueue(tmp_path / "queue").enqueue(entry)
    return entry


def record_of(tmp_path: Path, entry: QueueEntry) -> RunRecord | None:
    return find_record(tmp_path / "results", entry.job.preset, entry.method.name, entry.key)


CASES = {
    "unknown baseline": ("attacker", "baseline", None, "unknown method"),
    "file queued as a baseline": ("mine", "baseline", REPO / "submissions" / "example_loss.py", "queued as a baseline"),
    "copy gone": ("gone", "submission", Path("/nonexistent/submission.py"), "the queue holds no copy"),
}


@pytest.mark.parametrize(("name", "entry_type", "copy", "reason"), CASES.values(), ids=CASES.keys())
def test_a_job_whose_method_cannot_be_built_fails_with_a_record(
    tmp_path: Path, data_root: Path, name: str, entry_type: str, copy: Path | None, reason: str
) -> None:
    entry = queued(tmp_path, data_root, name, entry_type, copy)
    queue = JobQueue(tmp_path / "queue")
    claimed = queue.claim("w", "cpu")
    assert claimed is not None and claimed.key == entry.key
    assert run_one(queue, claimed, CPU, "[t]") == "failed"
    assert queue.state_of(entry.key) == "failed" and not queue.entries("running")
    record = record_of(tmp_path, entry)
    assert record is not None and record.status == "failed" and record.error is not None
    assert record.error.startswith("the queued job's method cannot be built: ") and reason in record.error
    assert "\n" not in record.error and record.epochs == []


def test_the_worker_goes_on_after_a_job_it_cannot_build(tmp_path: Path, data_root: Path) -> None:
    """The first job names no method this worker knows; the second, the `equal` baseline,
    still runs: the slot ends idle (0), not with an exception."""
    bad = queued(tmp_path, data_root, "attacker", "baseline", None)
    good = queued(tmp_path, data_root, "equal", "baseline", None, seed=1)
    queue = JobQueue(tmp_path / "queue")
    assert slot_main(str(queue.root), "cpu", "cpu#0", 60.0, True, 0.05, threads=1) == 0
    assert queue.state_of(bad.key) == "failed" and queue.state_of(good.key) == "done"
    good_record = record_of(tmp_path, good)
    assert good_record is not None and good_record.status == "ok"


def test_a_job_for_the_process_sandbox_runs_only_where_the_worker_allows_it(tmp_path: Path, data_root: Path) -> None:
    """Whoever fills a queue cannot make its workers run a file without isolation: a job
    queued for the `process` sandbox fails on a worker not started with
    --allow-process-sandbox, and runs on one that was (as `submit --sandbox process` starts)."""
    example = REPO / "submissions" / "example_loss.py"
    sha256 = hashlib.sha256(example.read_bytes()).hexdigest()
    results = {}
    for allow in (False, True):
        folder = tmp_path / f"allow-{allow}"
        entry = queued(folder, data_root, "example", "submission", example, sha256=sha256)
        queue = JobQueue(folder / "queue")
        claimed = queue.claim("w", "cpu")
        assert claimed is not None
        results[allow] = (run_one(queue, claimed, CPU, "[t]", allow_process=allow), record_of(folder, entry))
    refused, record = results[False]
    assert refused == "failed" and record is not None
    assert "process sandbox, which isolates nothing" in (record.error or "")
    assert "--allow-process-sandbox" in (record.error or "")
    ran, record = results[True]
    assert ran == "done" and record is not None and record.status == "ok", record and record.error
