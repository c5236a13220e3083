"""`submit FILE`: train a submission (and any missing baselines), print the leaderboard."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.options import (
    add_job_options,
    add_json_option,
    add_max_file_size_option,
    add_sandbox_option,
    add_task_options,
)
from harness.outputs import RunOutput


def add_entry_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        type=Path,
        help="Python file defining class MultiTaskLoss(nn.Module), or a gradient-level GradientCombiner "
        "or GramCombiner (see the README's 'Writing a submission')",
    )
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
    add_max_file_size_option(parser)


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "submit",
        help="train a submission (and any missing baselines) and print the leaderboard",
        description="Train FILE (a MultiTaskLoss, GradientCombiner or GramCombiner) on every job of the "
        "preset, run the baselines on the same jobs where their records are missing, and print the leaderboard.",
    )
    add_entry_options(parser)
    add_job_options(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> RunOutput:
    from harness.cli.options import apply_group_writable, submit_request
    from harness.cli.printing import print_run
    from harness.commands.runs import submit

    request = submit_request(args, args.command)
    apply_group_writable(args)
    return print_run(submit(request))


add_plugin_arguments = add_task_options  # the registered tasks' own switches
