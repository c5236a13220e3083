"""`status`: the queue under a results folder as a document (`StatusOutput`): the counts per
state and every job's state, epoch, attempts, worker, heartbeat and Slurm state. The CLI
prints it as a table, the Python API returns it."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from harness.outputs import QueueJob, StatusOutput
from harness.queue.jobqueue import DEFAULT_LEASE_SECONDS, JobQueue, QueueProblem, State

STATES: tuple[State, ...] = ("running", "pending", "failed", "cancelled", "done")


@dataclass(frozen=True)
class StatusAnswer:
    output: StatusOutput
    queue_root: Path
    problems: list[QueueProblem]  # queue files moved aside (the CLI's warnings)


def status(results: Path, lease: float = DEFAULT_LEASE_SECONDS) -> StatusAnswer:
    """The queue's document; its files that cannot be read are moved aside and listed."""
    from harness.commands.planning import queue_root
    from harness.queue.slurm import slurm_states

    queue = JobQueue(queue_root(results), lease)
    counts = queue.counts()
    now = time.time()
    listings = {state: queue.listing(state) for state in STATES}
    slurm = slurm_states([e.slurm_job for entries in listings.values() for _, e in entries if e.slurm_job])
    jobs = [
        QueueJob(
            state=state,
            method=entry.method.name,
            task=entry.job.task,
            arch=entry.job.arch,
            seed=entry.job.seed,
            preset=entry.job.preset,
            protocol=entry.job.protocol.key,
            variant=entry.job.variant,
            epoch=entry.epoch,
            epochs=entry.job.config.epochs,
            attempts=entry.attempts,
            worker=entry.worker,
            heartbeat_seconds_ago=now - path.stat().st_mtime if state == "running" else None,
            slurm_job=entry.slurm_job,
            slurm_state=slurm.get(entry.slurm_job) if entry.slurm_job else None,
        )
        for state, listing in listings.items()
        for path, entry in listing
    ]
    output = StatusOutput(
        exit_code=0,
        queue=str(queue.root),
        counts=dict(counts),
        jobs=jobs,
        unreadable=[f"{problem.path}: {problem.reason}" for problem in queue.problems],
    )
    return StatusAnswer(output, queue.root, list(queue.problems))
