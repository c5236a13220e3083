"""`baselines`: train the registered methods on the preset's jobs."""

from __future__ import annotations

import argparse

from harness.cli.options import add_job_options, add_json_option, add_task_options
from harness.outputs import RunOutput


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "baselines",
        help="train the baselines (every registered method) on the preset's jobs",
        description="Train registered methods on the preset's jobs and print the leaderboard. Without "
        "--only, a method that cannot run a task (too many task losses) is left out with a note; named "
        "with --only, it is an error. The method families' members are built per task from its losses: "
        "the single-task controls (single:LOSS; with every registered method under the full preset) and "
        "the fixed-weight frontier (fixed-weights:FRACTIONS).",
    )
    parser.add_argument(
        "--only",
        nargs="+",
        metavar="NAME",
        help="methods to run (default: all registered); a family's member such as single:fine runs on the tasks "
        "that have it",
    )
    parser.add_argument(
        "--controls",
        action="store_true",
        help="run each task's single-task controls single:LOSS, each loss trained alone (with --only: besides its names)",
    )
    parser.add_argument(
        "--frontier",
        action="store_true",
        help="run each task's fixed-weight frontier fixed-weights:FRACTIONS (sum of w_i L_i on a simplex grid) "
        "and its centre, equal (with --only: besides its names)",
    )
    add_job_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> RunOutput:
    from harness.cli.options import apply_group_writable, baselines_request
    from harness.cli.printing import print_run
    from harness.commands.runs import baselines

    request = baselines_request(args)
    apply_group_writable(args)
    return print_run(baselines(request))


add_plugin_arguments = add_task_options  # the registered tasks' own switches
