"""`import-published FILE`: a benchmark's published numbers as reference rows."""

from __future__ import annotations

import argparse
from pathlib import Path

from harness.cli.options import add_group_writable_option, add_results_option, apply_group_writable, split_list


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "import-published",
        help="import a benchmark's published results as reference rows",
        description="Read published leaderboard data (MLS-Bench JSON: rows with model, seed and metric "
        "columns such as test_acc_resnet20-cifar100mt), or a paper's reported means ± std (format "
        "reported-summaries/1, e.g. tasks/face_age_gender/published/ror-adience.json), into RESULTS/published/. "
        "Leaderboards of the given presets show them as rows marked (published), beside this harness's runs.",
    )
    parser.add_argument("file", type=Path)
    parser.add_argument(
        "--presets",
        nargs="+",
        default=["full", "final"],
        help="presets whose protocol the numbers were measured under (default: full final)",
    )
    add_results_option(parser)
    add_group_writable_option(parser)
    parser.set_defaults(func=run)
    return parser


def run(args: argparse.Namespace) -> int:
    from harness.commands.planning import chosen_tasks
    from harness.report.published import import_published

    apply_group_writable(args)
    target, published = import_published(args.file, chosen_tasks(None), split_list(args.presets) or [], args.results)
    if published.summaries:
        systems = sorted({s.method for s in published.summaries})
        print(
            f"imported {len(published.summaries)} reported means ± std of {len(systems)} published systems "
            f"for presets {', '.join(published.presets)} into {target}"
        )
    else:
        methods = sorted({f"{v.method} ({v.entry_type})" for v in published.values})
        print(
            f"imported {len(published.values)} published values of {len(methods)} methods "
            f"({', '.join(methods)}) for presets {', '.join(published.presets)} into {target}"
        )
    for note in published.notes:
        print(f"note: {note}")
    return 0
