"""`plugins`: what is registered (tasks, methods, sandboxes) and where it comes from."""

from __future__ import annotations

import argparse

from harness import registry


def register(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "plugins",
        help="list the registered tasks, methods and sandbox backends",
        description="Every entry of the entry-point groups mtl_bench.tasks, mtl_bench.methods and "
        "mtl_bench.sandboxes, with its distribution and reference; a plugin that fails to load is "
        "listed with its error (exit code 1).",
    )
    parser.set_defaults(func=run)
    return parser


def _summary(plugin: object) -> str:
    from harness.api.method import MethodInfo
    from harness.api.sandbox import Sandbox
    from harness.api.task import Task

    if isinstance(plugin, Task):
        return f"losses {', '.join(plugin.loss_names)}; architectures {', '.join(plugin.visible_architectures())}"
    if isinstance(plugin, MethodInfo):
        limit = f" (at most {plugin.max_tasks} tasks)" if plugin.max_tasks else ""
        return f"{plugin.level} level; {plugin.description}{limit}"
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
    return 1 if broken_any else 0
