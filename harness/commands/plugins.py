"""`plugins`: every registration of the entry-point groups (tasks, methods, method families,
sandboxes), loaded or broken, with what a program needs to use it (a task's losses,
architectures and metrics), and each family's members per task (`PluginsOutput`)."""

from __future__ import annotations

from harness import registry
from harness.api.errors import PluginError
from harness.api.method import MethodFamily, MethodInfo
from harness.api.sandbox import Sandbox
from harness.api.task import Task
from harness.outputs import FamilyMembers, MetricInfo, PluginEntry, PluginsOutput


def metric_info(task: Task, metric: str) -> MetricInfo:
    described = task.describe_metric(metric)
    return MetricInfo(
        name=described.metric, label=described.label, unit=described.unit, higher_is_better=described.higher_is_better
    )


def summary(plugin: object) -> str:
    """One line on what a loaded plugin is."""
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


def _entry(reg: registry.Registry, name: str, loaded: dict, broken: dict) -> PluginEntry:
    ref = reg.references()[name]
    plugin = loaded.get(name)
    entry = PluginEntry(
        kind=reg.kind,  # type: ignore[arg-type]  # the registries' kinds are the Literal's
        group=reg.group,
        name=name,
        distribution=ref.distribution,
        reference=ref.value,
        loaded=name in loaded,
        summary=summary(plugin) if name in loaded else None,
        error=None if name in loaded else str(broken[name]),
    )
    if isinstance(plugin, Task):
        entry.losses = list(plugin.loss_names)
        entry.architectures = plugin.visible_architectures()
        entry.primary_metric = metric_info(plugin, plugin.primary_metric)
        entry.task_metrics = [metric_info(plugin, judged.metric) for judged in plugin.task_metrics]
    return entry


def family_members() -> list[FamilyMembers]:
    """One entry per loaded task and loaded family: the members it makes for the task's losses."""
    tasks, _ = registry.tasks.load_all()
    families, _ = registry.families.load_all()
    out = []
    for task in tasks.values():
        for family in families:
            try:
                names = list(registry.members(family, task.loss_names))
            except PluginError as exc:  # the family's own error, listed like a broken plugin's
                out.append(FamilyMembers(task=task.name, family=family, members=[], error=str(exc)))
                continue
            out.append(FamilyMembers(task=task.name, family=family, members=names, error=None))
    return out


def plugins() -> PluginsOutput:
    """Everything registered; exit code 1 when a plugin or a family's members cannot be had."""
    entries: list[PluginEntry] = []
    for reg in registry.REGISTRIES:
        loaded, broken = reg.load_all()
        entries.extend(_entry(reg, name, loaded, broken) for name in reg.references())
    members = family_members()
    broken_any = any(not e.loaded for e in entries) or any(m.error is not None for m in members)
    return PluginsOutput(exit_code=1 if broken_any else 0, plugins=entries, family_members=members)
