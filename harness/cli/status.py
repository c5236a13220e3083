"""`status`: the queue as a table."""

from __future__ import annotations

import argparse

from harness.cli.options import add_json_option, add_results_option
from harness.outputs import StatusOutput


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("status", help="print the queue as a table")
    add_results_option(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> StatusOutput:
    import pandas as pd

    from harness.commands.status import status
    from harness.queue.jobqueue import DEFAULT_LEASE_SECONDS

    answer = status(args.results, getattr(args, "lease", DEFAULT_LEASE_SECONDS))
    output = answer.output
    print(f"queue {output.queue}: " + ", ".join(f"{n} {state}" for state, n in output.counts.items()))
    on_slurm = any(job.slurm_job for job in output.jobs)  # the column only where Slurm ran jobs
    screened = any(job.protocol != "standard" for job in output.jobs)  # likewise the protocol's
    rows = [
        {
            "state": job.state,
            "method": job.method,
            "task": job.task,
            "arch": job.arch,
            "seed": job.seed,
            "preset": job.preset,
            **({"protocol": job.protocol} if screened else {}),
            "attempts": job.attempts,
            "epoch": f"{job.epoch}/{job.epochs}",
            "worker": job.worker or "",
            "heartbeat": "" if job.heartbeat_seconds_ago is None else f"{job.heartbeat_seconds_ago:.0f}s ago",
            **({"slurm job": slurm_cell(job.slurm_job, job.slurm_state)} if on_slurm else {}),
        }
        for job in output.jobs
    ]
    if rows:
        print(pd.DataFrame(rows).to_markdown(index=False))
    for problem in answer.problems:
        print(
            f"warning: unreadable queue file {problem.path} moved to {answer.queue_root / 'unreadable'}: "
            f"{problem.reason}"
        )
    return output


def slurm_cell(job: str | None, state: str | None) -> str:
    """A harness job's Slurm job id and Slurm's state of it (squeue/sacct), if any."""
    if not job:
        return ""
    return f"{job} {state or ''}".strip()
