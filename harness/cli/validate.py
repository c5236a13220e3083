"""`validate FILE`: check a submission in seconds, in the sandbox."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from harness import registry
from harness.api.errors import HarnessError
from harness.cli.options import add_sandbox_option, indent


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "validate",
        help="check a submission in seconds, in the sandbox",
        description="Load FILE in the sandboxed oracle, run it on a synthetic loss trajectory "
        "and print the effective weight per task and every problem found. Exit code 0: no "
        "problems; 1: problems; 2: the file cannot be used at all.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument("--task", help="whose losses (number and names) to use (default: the first registered task)")
    parser.add_argument("--epochs", type=int, default=5, help="epochs of the synthetic trajectory")
    parser.add_argument("--steps", type=int, default=20, help="steps per epoch of the trajectory")
    parser.add_argument("--plot", type=Path, help="also draw the weights into this PNG file")
    add_sandbox_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.api.sandbox import OracleLimits
    from harness.methods.validate import plot_weights, validate
    from harness.oracle.choose import choose_sandbox

    names = registry.tasks.names()
    task = registry.tasks.get(args.task or (names[0] if names else ""))
    if args.epochs < 1 or args.steps < 1:
        raise HarnessError("--epochs and --steps must be at least 1")
    sandbox = choose_sandbox(args.sandbox, warn=lambda text: print(text, file=sys.stderr))
    level = file_format(args.file)
    if level != "loss":
        return run_gradient(args, task.loss_names, sandbox, level)
    started = time.perf_counter()
    report = validate(args.file, task.loss_names, sandbox, OracleLimits(), args.epochs, args.steps)
    print(
        f"validated {args.file} in the {sandbox.name} sandbox in {time.perf_counter() - started:.1f}s "
        f"({len(report.steps)} calls)"
    )
    if report.steps:
        print("\nmean effective weight (d total / d loss) and loss per epoch of the synthetic trajectory:")
        print(report.weight_table().to_markdown(floatfmt=".4f"))
        median = sorted(s["ms"] for s in report.steps)[len(report.steps) // 2]
        print(f"\nmedian time per call: {median:.2f} ms")
        if args.plot:
            plot_weights(report, args.plot)
            print(f"weights plotted to {args.plot}")
    return verdict(report.warnings, report.problems, report.error_details, bool(report.steps))


def file_format(path: Path) -> str:
    """The format the file states by its class; unreadable files go the loss path, which
    reports why."""
    from harness.oracle.guest.gradient import declared_format
    from harness.oracle.guest.loader import SubmissionFault

    try:
        return declared_format(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError):
        return "loss"
    except SubmissionFault as exc:
        raise HarnessError(str(exc)) from None


def run_gradient(args: argparse.Namespace, loss_names: tuple[str, ...], sandbox: object, level: str) -> int:
    from harness.api.sandbox import OracleLimits
    from harness.methods.validate_gradient import validate_gradient

    started = time.perf_counter()
    report = validate_gradient(args.file, loss_names, sandbox, OracleLimits(), level, args.epochs, args.steps)  # type: ignore[arg-type]
    kind = "GradientCombiner: per-task gradients" if level == "gradient" else "GramCombiner: the Gram matrix"
    print(
        f"validated {args.file} ({kind}) in the {getattr(sandbox, 'name', sandbox)} sandbox in "
        f"{time.perf_counter() - started:.1f}s ({len(report.steps)} calls)"
    )
    if report.steps:
        print(
            "\nper epoch of synthetic conflicting gradients: the cosine between the task gradients (before), "
            "of the combined gradient with each task's (after), each task's effective coefficient, ms per call:"
        )
        print(report.table().to_markdown(floatfmt=".4f"))
    return verdict(report.warnings, report.problems, report.error_details, bool(report.steps))


def verdict(warnings: list[str], problems: list[str], details: str, ran: bool) -> int:
    """Print the findings; the exit code: 0 none, 1 problems, 2 the file could not run."""
    for warning in warnings:
        print(f"warning: {warning}")
    for problem in problems:
        print(f"PROBLEM: {problem}")
    if details:
        print(indent(details))
    if not problems:
        print("no problems found")
        return 0
    return 1 if ran else 2
