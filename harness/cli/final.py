"""`final FILE`: the final evaluation, hidden architectures included."""

from __future__ import annotations

import argparse

from harness.cli import submit
from harness.cli.options import add_job_options, add_json_option, add_task_options


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "final",
        help="the final evaluation: the full protocol on every architecture, hidden ones included",
        description="Train FILE under the `final` preset: the full protocol (CIFAR-100: 200 epochs, "
        "seeds 42, 123, 456) on every architecture including the hidden ones (VGG-16-BN; ConvNeXt-Tiny for "
        "the face tasks), run missing baselines on the same jobs (the seed's four and each task's single-task "
        "controls, single:LOSS), and render the leaderboard with the hidden "
        "columns (results/leaderboard-final.md and .html). Only this command and `leaderboard --final` "
        "show hidden results.",
    )
    submit.add_entry_options(parser)
    add_job_options(parser, preset=False)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


run = submit.run  # the request says final: submit_request reads args.command


add_plugin_arguments = add_task_options  # the registered tasks' own switches
