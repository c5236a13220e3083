"""The command-line interface: `python -m harness --help` (also `mtl-bench`, `runner.py`).

One module per subcommand, each with its own arguments (`register`) and handler (`run`):
the handler turns the arguments into the command's typed request (`options.py`), calls the
library (`harness/commands/`) and prints; it returns the exit code, or the command's
document whose `exit_code` it is. Errors of ours and of submissions reach the user as one
line. Arguments that come from plugins (task options, data commands) are added by
`add_plugin_arguments`, only to the subcommand being run, so that `--help` and `status` do
not import every task. The subcommand modules import nothing heavy at their top."""

from __future__ import annotations

import argparse
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING, NoReturn

from harness.api.errors import HarnessError, SubmissionError
from harness.cli import (
    baselines,
    cancel,
    data,
    final,
    import_published,
    leaderboard,
    mcp,
    plugins,
    sandbox,
    status,
    submit,
    validate,
    worker,
)

if TYPE_CHECKING:
    from harness.outputs import ErrorKind, Output

SUBCOMMANDS: tuple[ModuleType, ...] = (
    submit,
    final,
    baselines,
    leaderboard,
    validate,
    worker,
    status,
    cancel,
    data,
    import_published,
    plugins,
    mcp,
    sandbox,
)


def _command_of(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


class UsageError(SystemExit):
    """argparse's usage error, with its reason kept for the --json error document."""

    def __init__(self, message: str) -> None:
        super().__init__(2)
        self.message = message


class Parser(argparse.ArgumentParser):
    """argparse's parser (and its subparsers': they are made of the same class) whose usage
    error keeps its reason: a --json document then says what was wrong, not "see stderr"."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        print(f"{self.prog}: error: {message}", file=sys.stderr)
        raise UsageError(message)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, the plugin arguments of its subcommand too."""
    parser = Parser(
        prog="mtl-bench",
        description="Benchmark harness for multi-task loss functions: trains networks with a "
        "MultiTaskLoss under a fixed protocol and ranks it against baselines.",
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="also print the submission's traceback when it cannot be loaded",
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    chosen = _command_of(argv) if argv is not None else None
    for module in SUBCOMMANDS:
        sub = module.register(commands)
        name = module.__name__.rsplit(".", 1)[1]
        if chosen == name.replace("_", "-") and hasattr(module, "add_plugin_arguments"):
            module.add_plugin_arguments(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        args = build_parser(argv).parse_args(argv)
    except HarnessError as exc:  # e.g. the registry cannot be read
        from harness.outputs import error_kind

        print(f"error: {exc}", file=sys.stderr)
        _json_error(argv, exc.exit_code, error_kind(exc), str(exc))
        return exc.exit_code
    except UsageError as exc:  # argparse's usage error (printed on stderr with the usage)
        _json_error(argv, 2, "usage", exc.message)
        raise
    if getattr(args, "json", False):
        return _run_for_json(args)
    return _run(args)[0]


def _json_error(argv: list[str], code: int, kind: ErrorKind, message: str) -> None:
    """With --json, a command line that did not parse still answers with one document."""
    if "--json" in argv:
        from harness.outputs import error_output

        print(error_output(_command_of(argv) or "", code, kind, message).model_dump_json())


def _run_for_json(args: argparse.Namespace) -> int:
    """Run the command with everything it prints on stderr (its workers' output too: the
    redirection is at the file descriptor), then print its one JSON document on stdout."""
    import contextlib

    from harness.outputs import error_output

    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            code, output, error = _run(args)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    if output is None:
        kind, message = error or ("internal", f"{args.command} ended with exit code {code} and no document")
        output = error_output(args.command, code, kind, message)
    print(output.model_dump_json())
    return code


def _line(value: object) -> str:
    """An error as one line: a submission's words may hold line breaks or escapes."""
    from harness.oracle.guest.protocol import clean_text

    return clean_text(str(value), 4000)


def _run(args: argparse.Namespace) -> tuple[int, Output | None, tuple[ErrorKind, str] | None]:
    """The handler's exit code, its document (None: it has none, or it failed) and the error
    line it printed, with its kind."""
    try:
        answer = args.func(args)
    except SubmissionError as exc:
        error = _line(exc)
        print(f"error: {error}", file=sys.stderr)
        if exc.details and args.verbose:
            from harness.cli.options import indent

            print(indent(exc.details), file=sys.stderr)
        return exc.exit_code, None, ("submission", error)
    except HarnessError as exc:
        from harness.outputs import error_kind

        error = _line(exc)
        print(f"error: {error}", file=sys.stderr)
        return exc.exit_code, None, (error_kind(exc), error)
    except KeyboardInterrupt:
        error = "interrupted: finished jobs are saved; rerun the command to continue"
        print(error, file=sys.stderr)
        return 130, None, ("interrupted", error)
    except BrokenPipeError:  # output piped into e.g. `head`, which has stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0, None, None
    except Exception as exc:  # a bug of ours: a short line here, the traceback in a file
        report = _save_crash_report()
        error = f"internal error (a harness bug): {type(exc).__name__}: {_line(exc)}; traceback in {report}"
        print(error, file=sys.stderr)
        return 3, None, ("internal", error)
    if isinstance(answer, int):
        return answer, None, None
    return answer.exit_code, answer, None


def _save_crash_report() -> str:
    import tempfile
    import traceback

    handle, path = tempfile.mkstemp(prefix="mtl-harness-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(traceback.format_exc())
    return path
