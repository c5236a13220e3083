"""`submit FILE`: train a submission (and any missing baselines), print the leaderboard."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from harness.cli.options import (
    add_job_options,
    add_json_option,
    add_sandbox_option,
    add_task_options,
    queue_of,
    queue_root,
)

if TYPE_CHECKING:
    from harness.api.task import Task
    from harness.methods.resolve import Method


def add_entry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", type=Path, help="Python file defining class MultiTaskLoss(nn.Module)")
    parser.add_argument("--name", help="row name on the leaderboard (default: the file name)")
    parser.add_argument(
        "--type",
        dest="entry_type",
        default="submission",
        choices=["submission", "agent", "vanilla", "baseline", "human"],
        help="row type on the leaderboard: agent (written by an agent with tools), vanilla (a model's "
        "one-shot answer), human, or submission (default); baseline is refused for a file (it names the "
        "registered methods, which `baselines` runs)",
    )
    parser.add_argument(
        "--no-baselines",
        action="store_true",
        help="do not run the missing jobs of the seed's baselines (equal, uncertainty, dwa, pcgrad; "
        "`baselines` runs the others)",
    )
    add_sandbox_option(parser)


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "submit",
        help="train a submission (and any missing baselines) and print the leaderboard",
        description="Train FILE's MultiTaskLoss on every job of the preset, run the baselines "
        "on the same jobs where their records are missing, and print the leaderboard.",
    )
    add_entry_options(parser)
    add_job_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.api.errors import SubmissionError
    from harness.api.sandbox import OracleLimits
    from harness.cli.planning import (
        chosen_tasks,
        finish_dry_run,
        finish_run,
        job_device_type,
        local_run,
        plan_for,
    )
    from harness.methods.resolve import refuse_file_as_baseline, submission_method
    from harness.oracle.backends.base import cgroup_limits
    from harness.oracle.choose import UNISOLATED, choose_sandbox
    from harness.oracle.guest.loader import MAX_SOURCE_BYTES
    from harness.queue.local import all_recorded, run_planned
    from harness.run.jobs import record_unusable
    from harness.submission_store import store_submission

    refuse_file_as_baseline(args.entry_type)
    tasks = chosen_tasks(args.tasks)
    name = args.name or args.file.stem
    job_device_type(args)  # fail fast on a bad --device
    how = local_run(args)
    sandbox = choose_sandbox(args.sandbox, warn=lambda text: print(text, file=sys.stderr))
    held = cgroup_limits() if sandbox.name != "docker" else ""  # docker: the engine's cgroup
    if "rlimits only" in held:  # the run records say so too; say it before hours of training
        print(f"warning: oracle limits here: {held} (rlimits miss shared memory, tmpfs and children)", file=sys.stderr)
    # the workers this command starts run the process sandbox only because it was named here
    how = dataclasses.replace(how, allow_process=sandbox.name == UNISOLATED)
    limits = OracleLimits()
    # the file's bytes are read once, here: the check and every job run this stored copy and
    # must find those bytes in it (a dry run writes nothing and runs nothing: it reads the file)
    stored = None if args.dry_run else store_submission(args.file, queue_root(args), MAX_SOURCE_BYTES)

    def method_of(loss_names: tuple[str, ...], check: bool) -> Method:
        return submission_method(
            stored.path if stored else args.file,
            name,
            args.entry_type,
            loss_names,
            sandbox,
            limits,
            check=check,
            shown_as=args.file,
            expected_sha256=stored.sha256 if stored else None,
        )

    submissions = {task.name: method_of(task.loss_names, check=False) for task in tasks.values()}
    submission_jobs = plan_for({t: [m] for t, m in submissions.items()}, tasks, args)
    if args.dry_run:  # no sandbox started: the plan and its cost only
        finish_dry_run(args, plan_for(with_baselines(submissions, tasks, args), tasks, args), name)
        return 0
    if not args.force and all_recorded(submission_jobs, args.results):
        # this exact file already trained every job: its check passed then, nothing is rerun
        print(f"submission {args.file} as {name!r}: every job already recorded, not checked again", flush=True)
    else:
        try:  # the probe passes the losses positionally: one check per number of losses
            for loss_names in {len(t.loss_names): t.loss_names for t in tasks.values()}.values():
                method_of(loss_names, check=True)
        except SubmissionError as exc:  # recorded as failed, reported as one line by the CLI
            record_unusable(submission_jobs, tasks, exc, args.results)
            raise
        print(f"submission {args.file} checked in the {sandbox.name} sandbox as {name!r}", flush=True)
    methods = with_baselines(submissions, tasks, args)
    planned = plan_for(methods, tasks, args)
    records = run_planned(planned, tasks, queue_of(args), how)
    finish_run(args, tasks, planned, records, name)
    if records is None:
        return 0
    failed = [r for r in records if r.status == "failed" and r.method.name == name]
    if failed:
        print(f"error: {len(failed)} job(s) of {name} failed: {failed[0].error}", file=sys.stderr)
        return 1
    return 0


def with_baselines(
    submissions: dict[str, Method], tasks: dict[str, Task], args: argparse.Namespace
) -> dict[str, list[Method]]:
    """Per task: the seed's baselines that can run it (with a note for the others), then the submission."""
    from harness.methods.resolve import SUBMIT_BASELINES, methods_for_task

    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        baselines, notes = methods_for_task(
            () if args.no_baselines else SUBMIT_BASELINES, task.loss_names, task.name, strict=False
        )
        for note in notes:
            print(f"note: baseline {note}", flush=True)
        methods[task.name] = [*baselines, submissions[task.name]]
    return methods


add_plugin_arguments = add_task_options  # the registered tasks' own switches
