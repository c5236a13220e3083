"""`data NAME`: the registered tasks' data commands (download, check, synthesise)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING

from harness import registry
from harness.cli.options import DEFAULT_DATA

if TYPE_CHECKING:
    from harness.api.task import DataCommand


def data_commands() -> dict[str, DataCommand]:
    """Every data command of the registered tasks that load, by name (first one wins)."""
    commands: dict[str, DataCommand] = {}
    loaded, _ = registry.tasks.load_all()
    for task in loaded.values():
        for command in task.data_commands:
            commands.setdefault(command.name, command)
    return commands


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return commands.add_parser(
        "data",
        help="download or check a data set, write a synthetic one, or fetch weights",
        description="The data commands of the registered tasks. Each works on DATA_ROOT/NAME "
        "unless --root names another folder.",
    )


def add_plugin_arguments(parser: argparse.ArgumentParser) -> None:
    sets = parser.add_subparsers(dest="dataset", required=True, metavar="NAME")
    for name, command in data_commands().items():
        sub = sets.add_parser(name, help=command.help, description=command.help)
        sub.add_argument("--root", type=Path, help=f"the data set's folder (default: DATA_ROOT/{name})")
        if command.add_arguments is not None:
            command.add_arguments(sub)
        sub.set_defaults(func=run, data_command=command)


def run(args: argparse.Namespace) -> int:
    command: DataCommand = args.data_command
    return command.run(args, args.root or DEFAULT_DATA / command.name)
