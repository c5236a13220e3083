"""The layering the architecture page promises, checked on the source: no import cycle
between modules, a leaf API, a self-contained oracle guest, plugins that use only the API."""

from __future__ import annotations

import ast
import subprocess
from pathlib import Path

from tests.helpers import PYTHON, REPO

PACKAGES = ("harness", "tasks", "baselines")


def module_name(path: Path, root: Path = REPO) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _type_checking_only(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def imports_of(path: Path, modules: set[str], root: Path = REPO) -> set[str]:
    """The project modules `path` imports anywhere (functions too), resolving relative
    imports and `from package import module`; imports for type checking only are skipped."""
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
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def import_graph(root: Path = REPO, packages: tuple[str, ...] = PACKAGES) -> dict[str, set[str]]:
    files = [p for pkg in packages for p in (root / pkg).rglob("*.py")]
    modules = {module_name(p, root) for p in files}
    return {module_name(p, root): imports_of(p, modules, root) for p in files}


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


def test_no_import_cycle_between_modules() -> None:
    assert cycles(import_graph()) == []


def test_the_api_is_a_leaf() -> None:
    graph = import_graph()
    for module, imported in graph.items():
        if module.startswith("harness.api"):
            assert all(m.startswith("harness.api") for m in imported), (module, imported)


def test_tasks_and_baselines_use_only_the_api() -> None:
    for module, imported in import_graph().items():
        if module.split(".")[0] in ("tasks", "baselines"):
            outside = {m for m in imported if m.startswith("harness") and not m.startswith("harness.api")}
            assert not outside, (module, outside)


def test_the_core_names_no_task_and_no_method() -> None:
    for module, imported in import_graph().items():
        if module.startswith("harness"):
            assert not {m for m in imported if m.split(".")[0] in ("tasks", "baselines")}, module
    names = {"cifar100-mtl", "face-age-gender", "face-adience", "fine", "coarse", "age", "gender", "resnet20"}
    for path in (REPO / "harness").rglob("*.py"):
        constants = {n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)}
        assert not constants & names, f"{path.relative_to(REPO)} names {constants & names}"


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
        "import sys, harness.cli.planning, harness.queue.worker, harness.report.html, tasks.face_age_gender; "
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
