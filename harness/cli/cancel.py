"""`cancel NAME`: cancel the queued and running jobs of a method."""

from __future__ import annotations

import argparse

from harness.cli.options import add_results_option, queue_of


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("cancel", help="cancel the queued and running jobs of a submission")
    parser.add_argument("name", help="the method name (the --name given to submit, or the file name)")
    add_results_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.queue.slurm import cancel_bundles

    queue = queue_of(args)
    bundles = [
        entry.slurm_job
        for state in ("pending", "running")
        for entry in queue.entries(state)
        if entry.method.name == args.name and entry.slurm_job
    ]
    cancelled = queue.cancel(args.name)
    print(f"cancelled {cancelled} job(s) of {args.name}")
    stopped = cancel_bundles(queue, [job for job in bundles if job])
    if stopped:
        print(f"cancelled Slurm job(s) {', '.join(stopped)}")
    return 0 if cancelled else 1
