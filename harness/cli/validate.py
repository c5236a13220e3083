"""`validate FILE`: check a submission in seconds, in the sandbox."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.options import add_json_option, add_max_file_size_option, add_sandbox_option, indent
from harness.outputs import ValidationOutput


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
    add_max_file_size_option(parser)
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> ValidationOutput:
    from harness.cli.options import validate_request
    from harness.commands.validation import validate
    from harness.methods.validate import plot_weights

    answer = validate(validate_request(args))
    output, report = answer.output, answer.report
    if output.format == "loss":
        print(f"validated {args.file} in the {output.sandbox} sandbox in {output.seconds:.1f}s ({output.calls} calls)")
        if report.steps:
            print("\nmean effective weight (d total / d loss) and loss per epoch of the synthetic trajectory:")
            print(report.weight_table().to_markdown(floatfmt=".4f"))
            print(f"\nmedian time per call: {output.median_ms_per_call:.2f} ms")
            if args.plot:
                plot_weights(report, args.plot)
                print(f"weights plotted to {args.plot}")
    else:
        kind = (
            "GradientCombiner: per-task gradients" if output.format == "gradient" else "GramCombiner: the Gram matrix"
        )
        print(
            f"validated {args.file} ({kind}) in the {output.sandbox} sandbox in {output.seconds:.1f}s "
            f"({output.calls} calls)"
        )
        if report.steps:
            print(
                "\nper epoch of synthetic conflicting gradients: the cosine between the task gradients (before), "
                "of the combined gradient with each task's (after), each task's effective coefficient, ms per call:"
            )
            print(report.table().to_markdown(floatfmt=".4f"))
    print_findings(report.warnings, report.problems, report.error_details)
    return output


def print_findings(warnings: list[str], problems: list[str], details: str) -> None:
    """The findings, one line each (they may quote the oracle); the exit code is the
    document's: 0 none, 1 problems, 2 the file could not run."""
    from harness.oracle.guest.protocol import clean_text

    for warning in warnings:
        print(f"warning: {clean_text(warning, 4000)}")
    for problem in problems:
        print(f"PROBLEM: {clean_text(problem, 4000)}")
    if details:
        print(indent(details))
    if not problems:
        print("no problems found")
