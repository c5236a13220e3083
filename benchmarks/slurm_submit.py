"""How fast the harness hands jobs to Slurm, and what the shared results folder costs.

    sudo python benchmarks/slurm_submit.py [--jobs 1000] [--bundle-sizes 1 4] [--out FILE]

Starts the throwaway test cluster (scripts/slurm-cluster.sh; root and its Debian packages),
or uses the one SLURM_CONF names with --use-running. For each bundle size K it plans N
tiny `equal` jobs and times, through the functions the CLI itself calls:

  enqueue     the queue entries written to the results folder (run_planned's enqueue)
  submit      submit_bundles: one Slurm job per K harness jobs through submitit, each
              held with --begin=now+1hour so that the handing over alone is timed
  watch       one pass of what a waiting `submit` does every second (each job's state)
              and every 10 s (the progress line, which reads every entry)
  status      slurm_states: squeue then sacct for every Slurm job id
  cancel      cancel_bundles after the queue's own cancel: scancel of every Slurm job

It prints one JSON object: seconds and jobs per second per step, and per-job costs in
milliseconds, from which the scale section of docs/scale.md extrapolates.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness import registry  # noqa: E402
from harness.api.records import JobSpec, TrainConfig  # noqa: E402
from harness.methods.resolve import registered_method  # noqa: E402
from harness.queue.jobqueue import JobQueue  # noqa: E402
from harness.queue.local import progress_line  # noqa: E402
from harness.queue.slurm import SlurmOptions, cancel_bundles, check_slurm, slurm_states, submit_bundles  # noqa: E402
from harness.queue.worker import entry_for  # noqa: E402
from harness.run.jobs import plan  # noqa: E402

SCRIPT = Path(__file__).resolve().parent.parent / "scripts" / "slurm-cluster.sh"


def timed(action: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    value = action()
    return time.perf_counter() - started, value


def rate(count: int, seconds: float) -> dict[str, float]:
    return {
        "seconds": round(seconds, 3),
        "per_second": round(count / seconds, 1),
        "ms_each": round(1000 * seconds / count, 3),
    }


def measure(jobs: int, bundle: int, folder: Path) -> dict[str, Any]:
    task = registry.tasks.get("cifar100-mtl")
    config = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=32)
    specs = [JobSpec(task=task.name, arch="resnet20", seed=seed, preset="scale", config=config) for seed in range(jobs)]
    planned = plan(registered_method("equal", task.loss_names), specs, "cpu")
    results = folder / f"results-k{bundle}"
    queue = JobQueue(results / "queue")
    data_root = folder / "data"
    enqueue_s, _ = timed(lambda: [queue.enqueue(entry_for(item, queue, results, data_root)) for item in planned])
    keys = [item.key for item in planned]
    options = SlurmOptions(cpus_per_job=1, time_minutes=30, extra={"begin": "now+3600"})
    submit_s, submitted = timed(lambda: submit_bundles(queue, keys, results, bundle, options))
    ids = [str(job.job_id) for job in submitted]
    states_s, states = timed(lambda: {key: queue.state_of(key) for key in keys})
    line_s, _ = timed(lambda: progress_line(queue, keys, states, 1.0))
    status_s, slurm = timed(lambda: slurm_states(ids))
    known = sum(1 for job in ids if job in slurm)
    cancel_s, cancelled = timed(lambda: (queue.cancel("equal"), cancel_bundles(queue, ids))[1])
    return {
        "jobs": jobs,
        "bundle_size": bundle,
        "slurm_jobs": len(ids),
        "enqueue": rate(jobs, enqueue_s),
        "submit": {**rate(jobs, submit_s), "slurm_jobs_per_second": round(len(ids) / submit_s, 1)},
        "watch_states": rate(jobs, states_s),
        "progress_line": rate(jobs, line_s),
        "status": {**rate(len(ids), status_s), "states_known": known},
        "cancel": {**rate(len(ids), cancel_s), "scancelled": len(cancelled)},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--bundle-sizes", type=int, nargs="+", default=[1, 4])
    parser.add_argument("--use-running", action="store_true", help="use the cluster SLURM_CONF names")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="slurm-scale-"))
    cluster = work / "cluster"
    if not args.use_running:
        cluster.mkdir()
        started = subprocess.run([str(SCRIPT), "start", str(cluster)], capture_output=True, text=True)
        if started.returncode != 0:
            print(f"the test cluster did not start: {started.stderr.strip()}", file=sys.stderr)
            return 1
        os.environ["SLURM_CONF"] = str(cluster / "slurm.conf")
    try:
        check_slurm()
        runs = []
        for bundle in args.bundle_sizes:
            runs.append(measure(args.jobs, bundle, work))
            print(json.dumps(runs[-1]), file=sys.stderr, flush=True)
    finally:
        if not args.use_running:
            subprocess.run([str(SCRIPT), "stop", str(cluster)], capture_output=True)
    result = {"cpus": os.cpu_count(), "runs": runs}
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
