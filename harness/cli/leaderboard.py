"""`leaderboard`: render the board from the run records (markdown, HTML, CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.options import (
    PRESETS,
    add_group_writable_option,
    add_json_option,
    add_protocol_options,
    add_results_option,
    add_tensorboard_option,
)
from harness.outputs import LeaderboardOutput


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("leaderboard", help="render the leaderboard from the run records")
    parser.add_argument(
        "--preset",
        metavar="{" + ",".join([*PRESETS, "final"]) + "}",
        help="whose runs to rank (default: smoke, or final with --final)",
    )
    parser.add_argument(
        "--final", action="store_true", help="the final evaluation's board: shows the hidden architectures' columns"
    )
    add_protocol_options(parser)
    add_results_option(parser)
    parser.add_argument("--out", type=Path, help="write the markdown here instead of printing it")
    parser.add_argument(
        "--html",
        type=Path,
        metavar="FILE",
        help="also write the HTML report (tables, training curves, task weights) here",
    )
    parser.add_argument("--csv", type=Path, metavar="FILE", help="also write one CSV row per cell here")
    add_tensorboard_option(parser)
    add_group_writable_option(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> LeaderboardOutput:
    from harness.cli.options import apply_group_writable, leaderboard_request
    from harness.commands.leaderboard import leaderboard

    request = leaderboard_request(args)
    apply_group_writable(args)
    answer = leaderboard(request)
    if answer.output.files:
        print(f"leaderboard written to {', '.join(answer.output.files)}")
    else:
        print(answer.text)
    return answer.output
