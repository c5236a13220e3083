"""Queue throughput: enqueue and claim(+finish) of N jobs, and the per-job overhead.

    python benchmarks/queue_ops.py [--jobs 10000] [--folder DIR]

Prints jobs per second for each operation and the scheduling overhead per job (enqueue +
claim + one heartbeat + finish), measured in one run, against the 50 ms target.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.api.records import JobSpec, MethodSpec, TrainConfig, job_key  # noqa: E402
from harness.queue.jobqueue import JobQueue, QueueEntry  # noqa: E402

TARGET_MS = 50.0


def make_entries(count: int) -> list[QueueEntry]:
    method = MethodSpec(
        name="bench", entry_type="submission", kind="loss_module", source_path="x.py", source_sha256="0" * 64
    )
    config = TrainConfig(epochs=200)
    entries = []
    for index in range(count):
        job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=index, preset="full", config=config)
        entries.append(
            QueueEntry(
                key=job_key(method, job, "bench"),
                method=method,
                job=job,
                results="/tmp/results",
                data_root="/tmp/data",
                enqueued_at=time.time(),
            )
        )
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--folder", type=Path, help="queue folder (default: a fresh temporary one)")
    args = parser.parse_args()
    queue = JobQueue(args.folder or Path(tempfile.mkdtemp()) / "queue")
    entries = make_entries(args.jobs)

    started = time.perf_counter()
    for entry in entries:
        queue.enqueue(entry)
    enqueue_s = time.perf_counter() - started

    started = time.perf_counter()
    claimed = 0
    while (entry := queue.claim("bench-worker")) is not None:
        queue.heartbeat(entry, 1)
        queue.finish(entry, "done")
        claimed += 1
    claim_s = time.perf_counter() - started
    assert claimed == args.jobs, claimed

    per_job_ms = 1000 * (enqueue_s + claim_s) / args.jobs
    print(f"{args.jobs} jobs in {queue.root}")
    print(
        f"enqueue:                     {args.jobs / enqueue_s:9.0f} jobs/s ({1000 * enqueue_s / args.jobs:.2f} ms/job)"
    )
    print(f"claim + heartbeat + finish:  {args.jobs / claim_s:9.0f} jobs/s ({1000 * claim_s / args.jobs:.2f} ms/job)")
    print(
        f"scheduling overhead per job: {per_job_ms:.2f} ms (target < {TARGET_MS:.0f} ms): "
        f"{'OK' if per_job_ms < TARGET_MS else 'OVER TARGET'}"
    )


if __name__ == "__main__":
    main()
