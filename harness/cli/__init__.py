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
from typing import TYPE_CHECKING

from harness.api.errors import HarnessError, SubmissionError
from harness.cli import (
    baselines,
    cancel,
    data,
    final,
    import_published,
    leaderboard,
    plugins,
    sandbox,
    status,
    submit,
    validate,
    worker,
)

if TYPE_CHECKING:
    from harness.outputs import Output

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
    sandbox,
)


def _command_of(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, the plugin arguments of its subcommand too."""
    parser = argparse.ArgumentParser(
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
        print(f"error: {exc}", file=sys.stderr)
        _json_error(argv, exc.exit_code, str(exc))
        return exc.exit_code
    except SystemExit as exc:  # argparse's usage error (its message is on stderr), or --help
        code = exc.code if isinstance(exc.code, int) else 2
        if code:
            _json_error(argv, code, "invalid arguments: see the usage message on stderr")
        raise
    if getattr(args, "json", False):
        return _run_for_json(args)
    return _run(args)[0]


def _json_error(argv: list[str], code: int, error: str) -> None:
    """With --json, a command line that did not parse still answers with one document."""
    if "--json" in argv:
        from harness.outputs import ErrorOutput

        print(ErrorOutput(command=_command_of(argv) or "", exit_code=code, error=error).model_dump_json())


def _run_for_json(args: argparse.Namespace) -> int:
    """Run the command with everything it prints on stderr (its workers' output too: the
    redirection is at the file descriptor), then print its one JSON document on stdout."""
    import contextlib

    from harness.outputs import ErrorOutput

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
        output = ErrorOutput(
            command=args.command, exit_code=code, error=error or f"{args.command} ended with exit code {code}"
        )
    print(output.model_dump_json())
    return code


def _line(value: object) -> str:
    """An error as one line: a submission's words may hold line breaks or escapes."""
    from harness.oracle.guest.protocol import clean_text

    return clean_text(str(value), 4000)


def _run(args: argparse.Namespace) -> tuple[int, Output | None, str | None]:
    """The handler's exit code, its document (None: it has none, or it failed) and the error
    line it printed."""
    try:
        answer = args.func(args)
    except SubmissionError as exc:
        error = _line(exc)
        print(f"error: {error}", file=sys.stderr)
        if exc.details and args.verbose:
            from harness.cli.options import indent

            print(indent(exc.details), file=sys.stderr)
        return exc.exit_code, None, error
    except HarnessError as exc:
        error = _line(exc)
        print(f"error: {error}", file=sys.stderr)
        return exc.exit_code, None, error
    except KeyboardInterrupt:
        print("interrupted: finished jobs are saved; rerun the command to continue", file=sys.stderr)
        return 130, None, "interrupted"
    except BrokenPipeError:  # output piped into e.g. `head`, which has stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0, None, None
    except Exception as exc:  # a bug of ours: a short line here, the traceback in a file
        report = _save_crash_report()
        error = f"internal error (a harness bug): {type(exc).__name__}: {_line(exc)}; traceback in {report}"
        print(error, file=sys.stderr)
        return 3, None, error
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
