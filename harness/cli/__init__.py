"""The command-line interface: `python -m harness --help` (also `mtl-bench`, `runner.py`).

One module per subcommand, each with its own arguments (`register`) and handler (`run`);
errors of ours and of submissions reach the user as one line. Arguments that come from
plugins (task options, data commands) are added by `add_plugin_arguments`, only to the
subcommand being run, so that `--help` and `status` do not import every task."""

from __future__ import annotations

import argparse
import os
import sys

from harness.api.errors import HarnessError, SubmissionError

SUBCOMMANDS = (
    "submit",
    "final",
    "baselines",
    "leaderboard",
    "validate",
    "worker",
    "status",
    "cancel",
    "data",
    "import_published",
    "plugins",
    "sandbox",
)


def _command_of(argv: list[str]) -> str | None:
    return next((arg for arg in argv if not arg.startswith("-")), None)


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The parser; with `argv`, the plugin arguments of its subcommand too."""
    import importlib

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
    for name in SUBCOMMANDS:
        module = importlib.import_module(f"harness.cli.{name}")
        sub = module.register(commands)
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
    return _run(args)


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
            code = _run(args)
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)
    output = getattr(args, "json_output", None)
    if output is None:
        error = getattr(args, "json_error", None) or f"{args.command} ended with exit code {code}"
        output = ErrorOutput(command=args.command, exit_code=code, error=error)
    else:
        output.exit_code = code
    print(output.model_dump_json())
    return code


def _line(value: object) -> str:
    """An error as one line: a submission's words may hold line breaks or escapes."""
    from harness.oracle.guest.protocol import clean_text

    return clean_text(str(value), 4000)


def _run(args: argparse.Namespace) -> int:
    try:
        return int(args.func(args))
    except SubmissionError as exc:
        args.json_error = _line(exc)
        print(f"error: {args.json_error}", file=sys.stderr)
        if exc.details and args.verbose:
            from harness.cli.options import indent

            print(indent(exc.details), file=sys.stderr)
        return exc.exit_code
    except HarnessError as exc:
        args.json_error = _line(exc)
        print(f"error: {args.json_error}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("interrupted: finished jobs are saved; rerun the command to continue", file=sys.stderr)
        return 130
    except BrokenPipeError:  # output piped into e.g. `head`, which has stopped reading
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except Exception as exc:  # a bug of ours: a short line here, the traceback in a file
        report = _save_crash_report()
        args.json_error = f"internal error (a harness bug): {type(exc).__name__}: {_line(exc)}; traceback in {report}"
        print(args.json_error, file=sys.stderr)
        return 3


def _save_crash_report() -> str:
    import tempfile
    import traceback

    handle, path = tempfile.mkstemp(prefix="mtl-harness-crash-", suffix=".txt")
    with os.fdopen(handle, "w") as out:
        out.write(traceback.format_exc())
    return path
