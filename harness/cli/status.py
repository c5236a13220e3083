"""`status`: the queue as a table."""

from __future__ import annotations

import argparse
import time
from typing import Any

from harness.cli.options import add_json_option, add_results_option, queue_of
from harness.outputs import QueueJob, StatusOutput


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("status", help="print the queue as a table")
    add_results_option(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> StatusOutput:
    import pandas as pd

    queue = queue_of(args)
    counts = queue.counts()
    print(f"queue {queue.root}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    from harness.queue.slurm import slurm_states

    jobs: list[dict[str, Any]] = []  # one dict per job: the --json rows, and the table below
    now = time.time()
    listings = {state: queue.listing(state) for state in ("running", "pending", "failed", "cancelled", "done")}
    slurm_jobs = [e.slurm_job for entries in listings.values() for _, e in entries if e.slurm_job]
    on_slurm = bool(slurm_jobs)  # the column only where Slurm ran jobs
    screened = any(not e.job.protocol.standard for entries in listings.values() for _, e in entries)
    slurm = slurm_states(slurm_jobs)
    for state, listing in listings.items():
        for path, entry in listing:
            age = now - path.stat().st_mtime if state == "running" else None
            jobs.append(
                {
                    "state": state,
                    "method": entry.method.name,
                    "task": entry.job.task,
                    "arch": entry.job.arch,
                    "seed": entry.job.seed,
                    "preset": entry.job.preset,
                    "protocol": entry.job.protocol.key,
                    "variant": entry.job.variant,
                    "epoch": entry.epoch,
                    "epochs": entry.job.config.epochs,
                    "attempts": entry.attempts,
                    "worker": entry.worker,
                    "heartbeat_seconds_ago": age,
                    "slurm_job": entry.slurm_job,
                    "slurm_state": slurm.get(entry.slurm_job) if entry.slurm_job else None,
                }
            )
    rows = [
        {
            **{key: job[key] for key in ("state", "method", "task", "arch", "seed", "preset")},
            **({"protocol": job["protocol"]} if screened else {}),  # the column only where a job has another
            "attempts": job["attempts"],
            "epoch": f"{job['epoch']}/{job['epochs']}",
            "worker": job["worker"] or "",
            "heartbeat": "" if job["heartbeat_seconds_ago"] is None else f"{job['heartbeat_seconds_ago']:.0f}s ago",
            **({"slurm job": slurm_cell(job["slurm_job"], slurm)} if on_slurm else {}),
        }
        for job in jobs
    ]
    if rows:
        print(pd.DataFrame(rows).to_markdown(index=False))
    for problem in queue.problems:
        print(f"warning: unreadable queue file {problem.path} moved to {queue.root / 'unreadable'}: {problem.reason}")
    return StatusOutput(
        exit_code=0,
        queue=str(queue.root),
        counts=dict(counts),
        jobs=[QueueJob.model_validate(job) for job in jobs],
        unreadable=[f"{problem.path}: {problem.reason}" for problem in queue.problems],
    )


def slurm_cell(job: str | None, states: dict[str, str]) -> str:
    """A harness job's Slurm job id and Slurm's state of it (squeue/sacct), if any."""
    if not job:
        return ""
    return f"{job} {states.get(job, '')}".strip()
