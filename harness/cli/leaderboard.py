"""`leaderboard`: render the board from the run records (markdown, HTML, CSV)."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.api.errors import HarnessError
from harness.cli.options import (
    PRESETS,
    add_json_option,
    add_protocol_options,
    add_results_option,
    add_tensorboard_option,
    protocol_of,
)


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser("leaderboard", help="render the leaderboard from the run records")
    parser.add_argument(
        "--preset", choices=[*PRESETS, "final"], help="whose runs to rank (default: smoke, or final with --final)"
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
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.cli.planning import chosen_tasks
    from harness.report.files import write_reports

    tasks = chosen_tasks(None)
    preset = args.preset or ("final" if args.final else "smoke")
    if args.final and preset != "final":
        raise HarnessError(
            "--final shows the hidden architectures of the final evaluation: use it with "
            "--preset final (the default with --final)"
        )
    protocol = protocol_of(args)
    text = write_reports(
        args.results, tasks, preset, args.final, args.out, args.html, args.csv, args.tensorboard, protocol
    )
    written = [str(p) for p in (args.out, args.html, args.csv, args.tensorboard) if p is not None]
    if args.json:
        from harness.python_api import leaderboard

        args.json_output = leaderboard(args.results, preset, args.final, protocol)
        args.json_output.files = written
    if written:
        print(f"leaderboard written to {', '.join(written)}")
    else:
        print(text)
    return 0
