"""Plugins by name: tasks, methods and sandbox backends, found through entry points.

Each kind is one entry-point group (`mtl_bench.tasks`, `mtl_bench.methods`,
`mtl_bench.sandboxes`) whose values are lazy `module:attribute` references; the built-in
ones register the same way in pyproject.toml. Nothing is imported until a name is asked
for, and a broken plugin breaks only itself.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.metadata
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from harness.api.errors import PluginError

if TYPE_CHECKING:  # imported when a plugin is checked: listing names needs no torch
    from harness.api.method import MethodInfo
    from harness.api.sandbox import Sandbox
    from harness.api.task import Task

T = TypeVar("T")
DISTRIBUTION = "mtl-loss-bench"
PYPROJECT = Path(__file__).resolve().parent.parent / "pyproject.toml"


@dataclass(frozen=True)
class Reference:
    """One registration: `name = module:attribute` from a distribution."""

    name: str
    value: str
    distribution: str

    def load(self) -> Any:
        module_name, _, attribute = self.value.partition(":")
        module = importlib.import_module(module_name)
        target: Any = module
        for part in attribute.split(".") if attribute else []:
            target = getattr(target, part)
        return target


def _from_checkout(group: str) -> list[Reference]:
    """The built-in references from pyproject.toml, for a checkout run without installing."""
    if not PYPROJECT.is_file():
        return []
    table = tomllib.loads(PYPROJECT.read_text()).get("project", {}).get("entry-points", {}).get(group, {})
    return [Reference(name, value, f"{DISTRIBUTION} (checkout)") for name, value in table.items()]


def discover(group: str) -> list[Reference]:
    found: list[Reference] = []
    for entry in importlib.metadata.entry_points(group=group):
        dist = entry.dist.name if entry.dist is not None else "unknown distribution"
        found.append(Reference(entry.name, entry.value, dist))
    if not any(ref.distribution == DISTRIBUTION for ref in found):
        found = _from_checkout(group) + found
    return found


class Registry(Generic[T]):
    """Name -> plugin of one kind; `convert` checks a loaded object and makes the plugin."""

    def __init__(self, group: str, kind: str, convert: Callable[[Any, str], T]) -> None:
        self.group = group
        self.kind = kind
        self._convert = convert
        self._references: dict[str, Reference] | None = None
        self._loaded: dict[str, T] = {}

    def references(self) -> dict[str, Reference]:
        if self._references is None:
            self._references = {}
            for ref in discover(self.group):
                self._references.setdefault(ref.name, ref)  # the first registration of a name wins
        return self._references

    def names(self) -> list[str]:
        return list(self.references())

    def __contains__(self, name: object) -> bool:
        return name in self.references()

    def unknown(self, name: str) -> PluginError:
        known = self.names()
        close = [k for k in known if name and k.startswith(name)][:1] or difflib.get_close_matches(name, known, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        return PluginError(f"unknown {self.kind} {name!r}{hint}; known: {', '.join(known) or 'none'}")

    def get(self, name: str) -> T:
        if name in self._loaded:
            return self._loaded[name]
        ref = self.references().get(name)
        if ref is None:
            raise self.unknown(name)
        try:
            target = ref.load()
        except Exception as exc:
            raise PluginError(
                f"{self.kind} plugin {name!r} ({ref.value}, from {ref.distribution}) failed to import: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        try:
            plugin = self._convert(target, name)
        except (TypeError, ValueError) as exc:
            raise PluginError(f"{self.kind} plugin {name!r} ({ref.value}, from {ref.distribution}): {exc}") from None
        self._loaded[name] = plugin
        return plugin

    def load_all(self) -> tuple[dict[str, T], dict[str, PluginError]]:
        """Every plugin that loads, and the error of each one that does not."""
        loaded: dict[str, T] = {}
        broken: dict[str, PluginError] = {}
        for name in self.names():
            try:
                loaded[name] = self.get(name)
            except PluginError as exc:
                broken[name] = exc
        return loaded, broken


def _named(plugin: Any, name: str) -> None:
    if getattr(plugin, "name", None) != name:
        raise ValueError(f"registered as {name!r} but its name is {getattr(plugin, 'name', None)!r}")


def _task(target: Any, name: str) -> Task:
    from harness.api.task import Task

    task = target() if isinstance(target, type) and issubclass(target, Task) else target
    if not isinstance(task, Task):
        raise TypeError(f"{target!r} is not a harness.api.Task (subclass or instance)")
    _named(task, name)
    return task


def _method(target: Any, name: str) -> MethodInfo:
    from harness.api.method import MethodInfo

    if not isinstance(target, MethodInfo):
        raise TypeError(f"{target!r} is not a harness.api.MethodInfo")
    _named(target, name)
    return target


def _sandbox(target: Any, name: str) -> type[Sandbox]:
    from harness.api.sandbox import Sandbox

    if not (isinstance(target, type) and issubclass(target, Sandbox)):
        raise TypeError(f"{target!r} is not a subclass of harness.api.Sandbox")
    _named(target, name)
    return target


tasks: Registry[Task] = Registry("mtl_bench.tasks", "task", _task)
methods: Registry[MethodInfo] = Registry("mtl_bench.methods", "method", _method)
sandboxes: Registry[type[Sandbox]] = Registry("mtl_bench.sandboxes", "sandbox", _sandbox)
REGISTRIES = (tasks, methods, sandboxes)
