"""`plugins`: what is registered (tasks, methods, method families, sandboxes), where it comes from, and
each family's members per task."""

from __future__ import annotations

import argparse

from harness.cli.options import add_json_option
from harness.outputs import PluginsOutput


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "plugins",
        help="list the registered tasks, methods, method families and sandbox backends",
        description="Every entry of the entry-point groups mtl_bench.tasks, mtl_bench.methods, "
        "mtl_bench.method_families and mtl_bench.sandboxes, with its distribution and reference, then each "
        "family's members per task; a plugin that fails to load is listed with its error (exit code 1). "
        "--json adds each task's losses, architectures and metrics (label, unit, direction).",
    )
    add_json_option(parser)
    parser.set_defaults(func=run)
    return parser


SHOWN = 12  # members listed by name per task and family; the rest are counted


def run(args: argparse.Namespace) -> PluginsOutput:
    import pandas as pd

    from harness import registry
    from harness.commands.plugins import plugins

    document = plugins()
    for reg in registry.REGISTRIES:
        rows = [
            {
                "name": entry.name,
                "from": entry.distribution,
                "reference": entry.reference,
                "what": entry.summary if entry.loaded else f"BROKEN: {entry.error}",
            }
            for entry in document.plugins
            if entry.group == reg.group
        ]
        print(f"\n{reg.group.rsplit('.', 1)[-1]} ({reg.group}):")
        print(pd.DataFrame(rows).to_markdown(index=False) if rows else "  none registered")
    members = [
        {
            "task": m.task,
            "family": m.family,
            "members": f"BROKEN: {m.error}" if m.error is not None else _shown(m.members),
        }
        for m in document.family_members
    ]
    print("\nmethod family members per task:")
    print(pd.DataFrame(members).to_markdown(index=False) if members else "  none")
    return document


def _shown(names: list[str]) -> str:
    shown = ", ".join(names[:SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > SHOWN else "")
    return shown or "none"
