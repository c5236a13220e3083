"""`baselines`: train the registered methods on the preset's jobs."""

from __future__ import annotations

import argparse

from harness import registry
from harness.cli.options import add_job_options, add_json_option, add_task_options, queue_of, split_list


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "baselines",
        help="train the baselines (every registered method) on the preset's jobs",
        description="Train registered methods on the preset's jobs and print the leaderboard. Without "
        "--only, a method that cannot run a task (too many task losses) is left out with a note; named "
        "with --only, it is an error.",
    )
    parser.add_argument("--only", nargs="+", metavar="NAME", help="methods to run (default: all registered)")
    add_job_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.cli.planning import chosen_tasks, finish_dry_run, finish_run, local_run, plan_for
    from harness.methods.resolve import Method, methods_for_task
    from harness.queue.local import run_planned

    tasks = chosen_tasks(args.tasks)
    how = local_run(args)
    named = split_list(args.only)
    names = named or registry.methods.names()
    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        methods[task.name], notes = methods_for_task(names, task.loss_names, task.name, strict=bool(named))
        for note in notes:
            print(f"note: {note}", flush=True)
    planned = plan_for(methods, tasks, args)
    if args.dry_run:
        finish_dry_run(args, planned, None)
        return 0
    records = run_planned(planned, tasks, queue_of(args), how)
    finish_run(args, tasks, planned, records, None)
    if records is None:
        return 0
    return 1 if any(r.status == "failed" for r in records) else 0


add_plugin_arguments = add_task_options  # the registered tasks' own switches
