"""The persistent queue: state changes, leases, cancellation, bad files, concurrency."""

from __future__ import annotations

import multiprocessing
import time
from pathlib import Path

from harness.api.records import JobSpec, MethodSpec, TrainConfig, job_key
from harness.queue.jobqueue import JobQueue, QueueEntry

CONFIG = TrainConfig(epochs=1, batch_size=64, data="synthetic", train_size=64, test_size=50)
METHOD = MethodSpec(
    name="equal", entry_type="baseline", kind="loss_module", source_path="baselines/equal.py", source_sha256="0" * 64
)


def entry(seed: int, name: str = "equal", results: Path = Path("/tmp")) -> QueueEntry:
    method = METHOD.model_copy(update={"name": name})
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=seed, preset="test", config=CONFIG)
    return QueueEntry(
        key=job_key(method, job, "test"),
        method=method,
        job=job,
        results=str(results),
        data_root="/tmp",
        enqueued_at=time.time(),
    )


def test_lifecycle_fifo_and_no_duplicates(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    first, second = entry(1), entry(2)
    assert queue.enqueue(first) and queue.enqueue(second)
    assert not queue.enqueue(entry(1))  # already pending
    claimed = queue.claim("w1")
    assert claimed.key == first.key and claimed.attempts == 1 and claimed.worker == "w1"
    assert queue.state_of(first.key) == "running"
    assert queue.heartbeat(claimed, epoch=1)
    assert queue.entries("running")[0].epoch == 1
    assert queue.finish(claimed, "done")
    assert queue.entries("done")[0].epoch == CONFIG.epochs  # status shows a finished job as complete
    assert queue.counts() == {"pending": 1, "running": 0, "done": 1, "failed": 0, "cancelled": 0}
    assert queue.enqueue(entry(1))  # a finished job may be queued again (--force)
    assert queue.state_of(first.key) == "pending"


def test_expired_lease_returns_the_job_and_the_old_worker_loses_it(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, lease_seconds=0.3)
    queue.enqueue(entry(1))
    stale = queue.claim("dead-worker")
    time.sleep(0.5)
    fresh = queue.claim("new-worker")
    assert fresh is not None and fresh.key == stale.key and fresh.attempts == 2
    assert not queue.heartbeat(stale) and not queue.finish(stale, "done")
    assert queue.heartbeat(fresh) and queue.finish(fresh, "done")


def test_cancel_stops_pending_and_running_jobs(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    for seed in range(3):
        queue.enqueue(entry(seed, name="mine"))
    queue.enqueue(entry(9, name="other"))
    running = queue.claim("w")
    assert queue.cancel("mine") == 3
    assert not queue.heartbeat(running)  # the worker learns at its next heartbeat
    assert [e.method.name for e in queue.entries("pending")] == ["other"]


def test_garbage_and_truncated_files_are_reported_and_skipped(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    (tmp_path / "pending" / "00000000000000000000-garbage.json").write_text("not json at all")
    (tmp_path / "pending" / "00000000000000000001-truncated.json").write_text('{"key": "abc", "meth')
    queue.enqueue(entry(1))
    claimed = queue.claim("w")
    assert claimed is not None and claimed.job.seed == 1
    assert len(queue.problems) == 2
    assert sorted(p.name for p in (tmp_path / "unreadable").iterdir()) == [
        "00000000000000000000-garbage.json",
        "00000000000000000001-truncated.json",
    ]


def _claim_all(root: str, worker: str, out: multiprocessing.Queue) -> None:
    queue = JobQueue(Path(root))
    while (item := queue.claim(worker)) is not None:
        out.put(item.key)
        queue.finish(item, "done")


def test_concurrent_claims_hand_out_each_job_once(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    keys = {entry(seed).key for seed in range(60) if queue.enqueue(entry(seed))}
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    workers = [context.Process(target=_claim_all, args=(str(tmp_path), f"w{i}", out)) for i in range(3)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
    claimed = [out.get(timeout=5) for _ in range(60)]
    assert sorted(claimed) == sorted(keys)
    assert queue.counts()["done"] == 60 and all(e.attempts == 1 for e in queue.entries("done"))
