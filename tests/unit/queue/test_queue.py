"""The persistent queue: state changes, leases, cancellation, bad files, concurrency."""

from __future__ import annotations

import json
import multiprocessing
import time
from pathlib import Path

from harness.api.records import JobSpec, MethodSpec, TrainConfig, job_key
from harness.queue.jobqueue import JobQueue, QueueEntry

CONFIG = TrainConfig(epochs=1, batch_size=64, data="synthetic", train_size=64, test_size=50)
METHOD = MethodSpec(
    name="equal", entry_type="baseline", kind="loss_module", source_path="baselines/equal.py", source_sha256="0" * 64
)


def entry(seed: int, name: str = "equal", results: Path = Path("/tmp"), device: str = "cpu") -> QueueEntry:
    method = METHOD.model_copy(update={"name": name})
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=seed, preset="test", config=CONFIG)
    return QueueEntry(
        key=job_key(method, job, "test", device),
        method=method,
        job=job,
        results=str(results),
        data_root="/tmp",
        enqueued_at=time.time(),
        device_type=device,
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


def test_a_worker_claims_only_the_jobs_of_its_device_type(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    on_gpu, on_cpu = entry(1, device="cuda"), entry(1, device="cpu")
    assert on_gpu.key != on_cpu.key  # the same job on two device types: two jobs
    assert queue.enqueue(on_gpu) and queue.enqueue(on_cpu)
    assert queue.unfinished("cpu") == 1 and queue.unfinished("cuda") == 1 and queue.unfinished() == 2
    claimed = queue.claim("cpu-worker", "cpu")
    assert claimed is not None and claimed.key == on_cpu.key  # the older GPU job is left alone
    assert queue.claim("cpu-worker", "cpu") is None
    assert queue.state_of(on_gpu.key) == "pending"
    taken = queue.claim("gpu-worker", "cuda")
    assert taken is not None and taken.key == on_gpu.key and taken.device_type == "cuda"


def test_a_job_queued_by_an_older_harness_still_reads_and_any_worker_may_run_it(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path)
    old = json.loads(entry(7).model_dump_json())
    for field in ("device_type", "last_error", "not_before"):
        del old[field]
    name = f"{time.time_ns():020d}-{old['key'][:16]}.json"
    (tmp_path / "pending" / name).write_text(json.dumps(old))
    (tmp_path / "names" / old["key"][:16]).write_text(name)
    assert queue.unfinished("cuda") == 1
    claimed = queue.claim("gpu-worker", "cuda")
    assert claimed is not None and claimed.key == old["key"] and claimed.device_type is None
    assert queue.problems == []


def test_requeue_keeps_the_checkpoint_counts_the_attempt_and_waits(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, retry_seconds=60)
    queue.enqueue(entry(1))
    claimed = queue.claim("w", "cpu")
    queue.checkpoint_path(claimed.key).write_bytes(b"epoch 1")
    assert queue.requeue(claimed, "OutOfMemoryError: CUDA out of memory")
    assert not queue.requeue(claimed, "twice")  # no longer this worker's
    waiting = queue.entries("pending")[0]
    assert waiting.attempts == 1 and waiting.worker is None
    assert waiting.last_error == "OutOfMemoryError: CUDA out of memory"
    assert waiting.not_before > time.time() + 50
    assert queue.checkpoint_path(claimed.key).exists()
    assert queue.claim("w", "cpu") is None  # not before its retry time
    soon = JobQueue(tmp_path, retry_seconds=0)
    soon.enqueue(entry(2))
    soon.requeue(soon.claim("w", "cpu"), "again")  # the older job still waits; this one does not
    assert soon.claim("w", "cpu").job.seed == 2


def test_an_expired_lease_says_why_the_job_came_back(tmp_path: Path) -> None:
    queue = JobQueue(tmp_path, lease_seconds=0.1)
    queue.enqueue(entry(1))
    queue.claim("dead-worker", "cpu")
    time.sleep(0.2)
    again = queue.claim("new-worker", "cpu")
    assert again.attempts == 2 and again.last_error.startswith("worker dead-worker stopped renewing its lease")


def test_the_slurm_job_that_runs_a_job_is_the_one_noted(tmp_path: Path) -> None:
    """submit notes the Slurm job on a pending entry; a bundle's worker that claims it notes
    its own (an older bundle may win the race), and a claimed job is not annotated over."""
    queue = JobQueue(tmp_path)
    queue.enqueue(entry(1))
    key = queue.entries("pending")[0].key
    assert queue.annotate(key, slurm_job="200_0")
    assert queue.entries("pending")[0].slurm_job == "200_0"
    claimed = queue.claim("w", only=[key], slurm_job="100_3")
    assert claimed is not None and claimed.slurm_job == "100_3"
    assert not queue.annotate(key, slurm_job="200_0")  # running now: its worker's note stays
    assert queue.entries("running")[0].slurm_job == "100_3"
