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
    cancelled = queue_of(args).cancel(args.name)
    print(f"cancelled {cancelled} job(s) of {args.name}")
    return 0 if cancelled else 1
