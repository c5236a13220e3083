"""Plugins by name: tasks, methods, method families and sandbox backends, found through
entry points.

Each kind is one entry-point group (`mtl_bench.tasks`, `mtl_bench.methods`,
`mtl_bench.method_families`, `mtl_bench.sandboxes`) whose values are lazy
`module:attribute` references; the built-in ones register the same way in pyproject.toml.
Nothing is imported until a name is asked for, and a broken plugin breaks only itself.
A method is found for a task's losses by `method_for`: a plain name is a registered
method, `family:member` a member a family generates from those losses.
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
    from harness.api.method import MethodFamily, MethodInfo
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


def _family(target: Any, name: str) -> MethodFamily:
    from harness.api.method import MethodFamily

    if not isinstance(target, MethodFamily):
        raise TypeError(f"{target!r} is not a harness.api.MethodFamily")
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
families: Registry[MethodFamily] = Registry("mtl_bench.method_families", "method family", _family)
sandboxes: Registry[type[Sandbox]] = Registry("mtl_bench.sandboxes", "sandbox", _sandbox)
REGISTRIES = (tasks, methods, families, sandboxes)
_MEMBERS: dict[tuple[str, tuple[str, ...]], dict[str, MethodInfo]] = {}


def family_of(name: str) -> str | None:
    """The registered family whose prefix (`family:`) `name` starts with, or None: such a
    name belongs to the family, whether or not it is one of its members."""
    family, sep, _ = name.partition(":")
    return family if sep and family in families else None


def members(family_name: str, loss_names: tuple[str, ...]) -> dict[str, MethodInfo]:
    """name -> method: the members the family generates for a task with these losses (built
    once per family and losses, so that a member is one object); a PluginError if the family
    is unknown or broken, or a member is misnamed."""
    key = (family_name, tuple(loss_names))
    if key not in _MEMBERS:
        family = families.get(family_name)
        try:
            generated = family.members(key[1])
        except Exception as exc:
            raise PluginError(
                f"method family {family_name!r} failed to build its members for the losses {', '.join(key[1])}: "
                f"{type(exc).__name__}: {exc}"
            ) from None
        from harness.api.method import MethodInfo

        found: dict[str, MethodInfo] = {}
        for info in generated:
            if not isinstance(info, MethodInfo):
                raise PluginError(f"method family {family_name!r}: its member {info!r} is not a harness.api.MethodInfo")
            if not info.name.startswith(family.prefix) or info.name == family.prefix or info.name in found:
                raise PluginError(
                    f"method family {family_name!r}: its member {info.name!r} is not named "
                    f"{family.prefix}SUFFIX, or is named twice"
                )
            found[info.name] = info
        _MEMBERS[key] = found
    return _MEMBERS[key]


def role_members(role: str, loss_names: tuple[str, ...]) -> tuple[list[MethodInfo], list[str], list[PluginError]]:
    """Every registered family of `role` (`controls`, `frontier`): their members for a task
    with these losses, the centres they name (registered methods, run with them), and the
    error of each family that does not load."""
    loaded, broken = families.load_all()
    found: list[MethodInfo] = []
    centres: list[str] = []
    errors = list(broken.values())
    for name, family in loaded.items():
        if family.role != role:
            continue
        try:
            found.extend(members(name, loss_names).values())
        except PluginError as exc:
            errors.append(exc)
            continue
        if family.centre is not None:
            centres.append(family.centre)
    return found, centres, errors


def method_for(name: str, loss_names: tuple[str, ...]) -> MethodInfo:
    """The method `name` names for a task with these losses: a registered method, or a
    family's member (`family:member`); a PluginError says why there is none, with the
    members that exist for those losses."""
    family = None if name in methods else family_of(name)
    if family is None:
        return methods.get(name)
    found = members(family, loss_names)
    if name not in found:
        raise PluginError(
            f"unknown method {name!r}: method family {family!r} has for the losses {', '.join(loss_names)} "
            f"the members {', '.join(found) or 'none'}"
        )
    return found[name]
