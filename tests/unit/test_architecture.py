"""The layering docs/architecture.md promises, checked on the source: the layers in the order
the page gives them, no import cycle between modules (imports made through importlib
counted), a leaf API, a self-contained oracle guest, plugins that use only the API, report
files alone touching the store, and no task or method named in the core."""

from __future__ import annotations

import ast
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO

PACKAGES = ("harness", "tasks", "baselines")
ARCHITECTURE = REPO / "docs" / "architecture.md"

# The layers of docs/architecture.md, leaf first: a module imports only its own layer and
# layers of a lower rank (two layers of one rank never import each other). The longest
# prefix names a module's layer.
LAYERS: dict[str, int] = {
    "harness.api": 0,
    "harness.version": 0,
    "harness.oracle.guest": 1,
    "harness.outputs": 1,
    "harness.store": 1,
    "harness.registry": 1,
    "harness.submission_store": 2,
    "harness.report": 2,
    "harness.oracle": 3,
    "harness.methods": 4,
    "harness.run": 5,
    "harness.queue": 6,
    "harness.commands": 7,
    "harness.cli": 8,
    "harness.python_api": 8,
    "harness": 9,
}
# the modules of the report layer that read and write files through the store; the board's
# statistics and rendering stay pure functions of the records
REPORT_FILES = {"harness.report.files", "harness.report.published", "harness.report.tensorboard"}


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


class UnfollowedImport(Exception):
    """A dynamic import whose target the graph cannot know: the test fails on it."""


def entry_point_targets(root: Path = REPO) -> set[str]:
    """The modules the registry imports for the project's own plugins (pyproject's entry points)."""
    pyproject = root / "pyproject.toml"
    if not pyproject.is_file():
        return set()
    groups = tomllib.loads(pyproject.read_text()).get("project", {}).get("entry-points", {})
    return {value.partition(":")[0] for group in groups.values() for value in group.values()}


def _dynamic_targets(call: ast.Call, name: str, modules: set[str], plugins: set[str]) -> set[str] | None:
    """The modules an `importlib.import_module(...)` or `__import__(...)` call can load:
    a constant, every module under an f-string's constant prefix, or (the registry, which
    loads plugins by entry point) every registered plugin module. None: not such a call."""
    func = ast.unparse(call.func)
    if func not in ("importlib.import_module", "import_module", "__import__"):
        return None
    argument = call.args[0] if call.args else None
    if isinstance(argument, ast.Constant) and isinstance(argument.value, str):
        return {argument.value} & modules
    if isinstance(argument, ast.JoinedStr) and argument.values and isinstance(argument.values[0], ast.Constant):
        prefix = str(argument.values[0].value)
        return {m for m in modules if m.startswith(prefix) and m != name}
    if name.endswith(".registry"):
        return plugins & modules
    raise UnfollowedImport(f"{name}: {ast.unparse(call)} imports a module the graph cannot name")


def imports_of(path: Path, modules: set[str], root: Path = REPO, plugins: set[str] | None = None) -> set[str]:
    """The project modules `path` imports anywhere (functions too), resolving relative
    imports, `from package import module` and importlib calls; imports for type checking
    only are skipped."""
    name = module_name(path, root)
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    found: set[str] = set()
    for node in ast.walk(tree):
        if _type_checking_only(node, parents):
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        elif isinstance(node, ast.Call):
            dynamic = _dynamic_targets(node, name, modules, plugins if plugins is not None else set())
            targets = sorted(dynamic or ())
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in (root / pkg).rglob("*.py")]
    modules = {module_name(p, root) for p in files}
    plugins = entry_point_targets(root)
    return {module_name(p, root): imports_of(p, modules, root, plugins) for p in files}


def layer_of(module: str) -> str:
    return max((prefix for prefix in LAYERS if module == prefix or module.startswith(prefix + ".")), key=len)


def layer_violations(graph: dict[str, set[str]], plugins: set[str]) -> list[str]:
    """Imports against the layer order (the registry's plugin loading is not a dependency)."""
    found = []
    for module, imported in sorted(graph.items()):
        if not module.startswith("harness"):
            continue
        for target in sorted(imported):
            if not target.startswith("harness") or (module == "harness.registry" and target in plugins):
                continue
            mine, theirs = layer_of(module), layer_of(target)
            if mine != theirs and LAYERS[theirs] >= LAYERS[mine]:
                found.append(
                    f"{module} ({mine}, rank {LAYERS[mine]}) imports {target} ({theirs}, rank {LAYERS[theirs]})"
                )
    return found


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                item = stack.pop()
                on_stack.discard(item)
                component.append(item)
                if item == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_the_graph_is_the_whole_project() -> None:
    """A graph that misses modules checks nothing: every layer has modules, the front doors
    and the library core are there, and the dynamic imports are followed."""
    graph = import_graph()
    assert len(graph) > 120
    for prefix in LAYERS:
        assert any(layer_of(module) == prefix for module in graph), f"no module in layer {prefix}"
    for module in ("harness.cli", "harness.cli.submit", "harness.commands.runs", "harness.python_api", "harness"):
        assert module in graph, module
    assert {"harness.cli.submit", "harness.cli.worker"} <= graph["harness.cli"]
    assert "harness.api.records" in graph["harness.api"]  # its lazy exports, through importlib
    assert {"baselines.pcgrad", "harness.oracle.backends.bwrap"} <= graph["harness.registry"]  # plugins


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_every_module_is_in_a_layer_of_the_map_and_imports_follow_its_order() -> None:
    graph = import_graph()
    text = ARCHITECTURE.read_text()
    for prefix in LAYERS:  # the page names every layer (as a folder or a file)
        path = prefix.replace(".", "/")
        assert re.search(rf"\b{re.escape(path)}(/|\.py)", text) or prefix == "harness", f"the map misses {path}"
    assert layer_violations(graph, entry_point_targets()) == []


def test_the_layer_check_catches_an_upward_import() -> None:
    graph = {"harness.run.jobs": {"harness.queue.local"}, "harness.cli.submit": {"harness.python_api"}}
    assert layer_violations(graph, set()) == [
        "harness.cli.submit (harness.cli, rank 8) imports harness.python_api (harness.python_api, rank 8)",
        "harness.run.jobs (harness.run, rank 5) imports harness.queue.local (harness.queue, rank 6)",
    ]
    assert layer_violations({"harness.queue.local": {"harness.run.jobs", "harness.queue.jobqueue"}}, set()) == []


def test_the_python_api_and_the_cli_are_two_doors_onto_the_library() -> None:
    graph = import_graph()
    assert not {m for m in graph["harness.python_api"] if m.startswith("harness.cli")}
    for module, imported in graph.items():
        if module.startswith("harness.cli"):
            assert "harness.python_api" not in imported, module
        if module.startswith("harness.commands"):
            assert not {m for m in imported if m.startswith("harness.cli")}, module


def test_the_api_is_a_leaf() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("harness.api"):
            assert all(m.startswith("harness.api") for m in imported), (module, imported)


def test_only_the_report_files_touch_the_store() -> None:
    graph = import_graph()
    report = {m for m in graph if m.startswith("harness.report")}
    assert REPORT_FILES <= report
    for module in sorted(report - REPORT_FILES):
        assert "harness.store" not in graph[module], f"{module} reads or writes files: only {REPORT_FILES} may"


def test_tasks_and_baselines_use_only_the_api() -> None:
    for module, imported in import_graph().items():
        if module.split(".")[0] in ("tasks", "baselines"):
            outside = {m for m in imported if m.startswith("harness") and not m.startswith("harness.api")}
            assert not outside, (module, outside)


def registered_names() -> set[str]:
    """Every name a registered task or method goes by: tasks, their losses and architectures,
    and methods (the core must work for a plugin's as for the built-in ones)."""
    from harness import registry

    tasks, broken = registry.tasks.load_all()
    assert not broken and tasks, broken
    names = set(tasks) | set(registry.methods.names())
    for task in tasks.values():
        names |= set(task.loss_names) | {arch.name for arch in task.architectures}
    return names


# the one name the core may hold: the board measures every row against `equal`, and its
# published fields say so (`delta_vs_equal`, docs/schema)
NAMED_IN_THE_CORE = {("harness/report/board.py", "equal")}


def names_in_the_core(names: set[str], root: Path = REPO) -> set[tuple[str, str]]:
    found = set()
    for path in (root / "harness").rglob("*.py"):
        constants = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        found |= {(str(path.relative_to(root)), name) for name in constants & names}
    return found


def test_the_core_names_no_task_and_no_method() -> None:
    plugins = entry_point_targets()
    for module, imported in import_graph().items():
        if module.startswith("harness"):
            named = {m for m in imported if m.split(".")[0] in ("tasks", "baselines")}
            assert not (named - plugins if module == "harness.registry" else named), module
    names = registered_names()
    assert {"equal", "pcgrad", "cifar100-mtl", "fine", "resnet20"} <= names  # the list checks something
    assert names_in_the_core(names) == NAMED_IN_THE_CORE


def test_a_name_in_the_core_is_caught(tmp_path: Path) -> None:
    (tmp_path / "harness").mkdir()
    (tmp_path / "harness" / "x.py").write_text('DEFAULTS = ("equal", "dwa")\nTEXT = "equal weights"\n')
    assert names_in_the_core({"equal", "dwa", "fine"}, tmp_path) == {("harness/x.py", "equal"), ("harness/x.py", "dwa")}


def test_the_oracle_guest_imports_only_itself_the_standard_library_and_torch() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("harness.oracle.guest"):
            assert all(m.startswith("harness.oracle.guest") for m in imported), (module, imported)
    guest = REPO / "harness" / "oracle" / "guest"
    probe = (
        "import sys; sys.modules['pydantic'] = None; sys.path.insert(0, sys.argv[1]); "
        "import guest.server, guest.loader, guest.runner, guest.codec, guest.protocol; "
        "assert not [m for m in sys.modules if m.split('.')[0] in ('harness', 'tasks', 'baselines')]; "
        "print('clean')"
    )
    done = subprocess.run([PYTHON, "-I", "-c", probe, str(guest.parent)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr


def test_planning_and_the_job_code_never_import_torchvision() -> None:
    """torchvision's import pulls in torch._dynamo (about 2 s in every worker and CLI
    process); only a face job's models and image codecs need it. The version a record
    carries is still torchvision's own, build tag included."""
    probe = (
        "import sys, harness.commands.planning, harness.queue.worker, harness.report.html, tasks.face_age_gender; "
        "from harness import registry; registry.tasks.load_all(); "
        "from harness.run.environment import torchvision_version; version = torchvision_version(); "
        "assert 'torchvision' not in sys.modules, 'torchvision imported'; "
        "import torchvision; assert version == torchvision.__version__, (version, torchvision.__version__); "
        "print('clean')"
    )
    done = subprocess.run([PYTHON, "-c", probe], capture_output=True, text=True, timeout=120, cwd=REPO)
    assert done.returncode == 0 and done.stdout.strip() == "clean", done.stderr


def test_a_cycle_in_a_tree_is_caught(tmp_path: Path) -> None:
    """The graph sees function-level and relative imports (a cycle through either counts),
    and skips imports made for type checking only."""
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg import b\n")
    (pkg / "b.py").write_text("from . import a\n")
    (pkg / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import d\n")
    (pkg / "d.py").write_text("import pkg.c\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.a"} and graph["pkg.c"] == set()
    assert cycles(graph) == [["pkg.a", "pkg.b"]]


def test_imports_through_importlib_are_followed_and_an_unknown_one_fails(tmp_path: Path) -> None:
    """A cycle made through importlib counts: a constant name, and an f-string's prefix (every
    module under it); an import the graph cannot name fails the check instead of hiding."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    for name in ("__init__.py", "sub/__init__.py", "sub/one.py", "sub/two.py"):
        (pkg / name).write_text("")
    (pkg / "a.py").write_text("import importlib\ndef f(x):\n    return importlib.import_module(f'pkg.sub.{x}')\n")
    (pkg / "sub" / "one.py").write_text("import importlib\nimportlib.import_module('pkg.a')\n")
    graph = import_graph(tmp_path, ("pkg",))
    assert graph["pkg.a"] == {"pkg.sub.one", "pkg.sub.two"} and graph["pkg.sub.one"] == {"pkg.a"}
    assert cycles(graph) == [["pkg.a", "pkg.sub.one"]]
    (pkg / "b.py").write_text("import importlib\ndef g(name):\n    return importlib.import_module(name)\n")
    with pytest.raises(UnfollowedImport, match="pkg.b"):
        import_graph(tmp_path, ("pkg",))
