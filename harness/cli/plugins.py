"""`plugins`: what is registered (tasks, methods, method families, sandboxes), where it comes from, and
each family's members per task."""

from __future__ import annotations

import argparse

from harness import registry
from harness.api.errors import PluginError


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "plugins",
        help="list the registered tasks, methods, method families and sandbox backends",
        description="Every entry of the entry-point groups mtl_bench.tasks, mtl_bench.methods, "
        "mtl_bench.method_families and mtl_bench.sandboxes, with its distribution and reference, then each "
        "family's members per task; a plugin that fails to load is listed with its error (exit code 1).",
    )
    parser.set_defaults(func=run)
    return parser


def _summary(plugin: object) -> str:
    from harness.api.method import MethodFamily, MethodInfo
    from harness.api.sandbox import Sandbox
    from harness.api.task import Task

    if isinstance(plugin, Task):
        return f"losses {', '.join(plugin.loss_names)}; architectures {', '.join(plugin.visible_architectures())}"
    if isinstance(plugin, MethodInfo):
        limit = f" (at most {plugin.max_tasks} tasks)" if plugin.max_tasks else ""
        return f"{plugin.level} level; {plugin.description}{limit}"
    if isinstance(plugin, MethodFamily):
        centre = f" (centre: {plugin.centre})" if plugin.centre else ""
        return f"{plugin.role}; {plugin.description}{centre}"
    if isinstance(plugin, type) and issubclass(plugin, Sandbox):
        reason = plugin.available()
        return plugin.description + ("" if reason is None else f" (not usable here: {reason})")
    return repr(plugin)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    broken_any = False
    for reg in registry.REGISTRIES:
        loaded, broken = reg.load_all()
        rows = []
        for name, ref in reg.references().items():
            if name in loaded:
                status = _summary(loaded[name])
            else:
                status = f"BROKEN: {broken[name]}"
                broken_any = True
            rows.append({"name": name, "from": ref.distribution, "reference": ref.value, "what": status})
        print(f"\n{reg.group.rsplit('.', 1)[-1]} ({reg.group}):")
        print(pd.DataFrame(rows).to_markdown(index=False) if rows else "  none registered")
    members = _members()
    print("\nmethod family members per task:")
    print(pd.DataFrame(members).to_markdown(index=False) if members else "  none")
    broken_any = broken_any or any(row["members"].startswith("BROKEN") for row in members)
    return 1 if broken_any else 0


SHOWN = 12  # members listed by name per task and family; the rest are counted


def _members() -> list[dict[str, str]]:
    """One row per loaded task and loaded family: the members it generates for the task's losses."""
    tasks, _ = registry.tasks.load_all()
    families, _ = registry.families.load_all()
    rows = []
    for task in tasks.values():
        for family in families:
            try:
                names = list(registry.members(family, task.loss_names))
            except PluginError as exc:  # the family's own error, listed like a broken plugin's
                rows.append({"task": task.name, "family": family, "members": f"BROKEN: {exc}"})
                continue
            shown = ", ".join(names[:SHOWN]) + (f", ... ({len(names)} in all)" if len(names) > SHOWN else "")
            rows.append({"task": task.name, "family": family, "members": shown or "none"})
    return rows
