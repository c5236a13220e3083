"""The plugin registry: lazy references, near-miss errors, broken plugins kept apart."""

from __future__ import annotations

import pytest

from harness import registry
from harness.api import MethodInfo, PluginError, Task
from harness.registry import Reference, Registry


def fake(monkeypatch: pytest.MonkeyPatch, refs: list[Reference], kind: str = "method") -> Registry:
    monkeypatch.setattr(registry, "discover", lambda group: refs)
    convert = {"method": registry._method, "task": registry._task}[kind]
    return Registry(f"test.{kind}s", kind, convert)


def ref(name: str, value: str) -> Reference:
    return Reference(name, value, "test-dist")


def test_the_built_ins_are_registered_through_entry_points() -> None:
    assert {"cifar100-mtl", "face-age-gender", "face-adience"} <= set(registry.tasks.names())
    assert {"equal", "uncertainty", "dwa", "pcgrad", "cagrad", "nash-mtl"} <= set(registry.methods.names())
    assert set(registry.sandboxes.names()) >= {"bwrap", "process", "docker"}
    assert isinstance(registry.tasks.get("cifar100-mtl"), Task)
    assert isinstance(registry.methods.get("equal"), MethodInfo)
    assert registry.tasks.references()["cifar100-mtl"].distribution.startswith("mtl-loss-bench")


def test_nothing_is_imported_before_a_name_is_asked_for(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = fake(monkeypatch, [ref("good", "tests.unit.plugin_objects:GOOD_METHOD"), ref("broken", "no_such_module:X")])
    assert reg.names() == ["good", "broken"] and "broken" in reg  # listing imports nothing
    assert reg.get("good").description == "a fine method"


def test_unknown_names_get_the_known_ones_and_the_closest() -> None:
    with pytest.raises(PluginError, match=r"unknown method 'pcgard' \(did you mean 'pcgrad'\?\); known: .*equal"):
        registry.methods.get("pcgard")
    with pytest.raises(PluginError, match=r"unknown task 'cifar' \(did you mean 'cifar100-mtl'\?\)"):
        registry.tasks.get("cifar")
    with pytest.raises(PluginError, match=r"unknown sandbox 'zzz'; known: "):
        registry.sandboxes.get("zzz")


def test_a_broken_plugin_names_itself_and_its_distribution_and_spares_the_others(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reg = fake(
        monkeypatch,
        [
            ref("good", "tests.unit.plugin_objects:GOOD_METHOD"),
            ref("missing", "no_such_module:X"),
            ref("wrong-type", "tests.unit.plugin_objects:NOT_A_METHOD"),
            ref("good", "tests.unit.plugin_objects:NOT_A_METHOD"),  # a second registration of a name: the first wins
            ref("other-name", "tests.unit.plugin_objects:GOOD_METHOD"),
        ],
    )
    loaded, broken = reg.load_all()
    assert list(loaded) == ["good"]
    assert set(broken) == {"missing", "wrong-type", "other-name"}
    assert "'missing' (no_such_module:X, from test-dist) failed to import: ModuleNotFoundError" in str(
        broken["missing"]
    )
    assert "is not a harness.api.MethodInfo" in str(broken["wrong-type"])
    assert "registered as 'other-name' but its name is 'good'" in str(broken["other-name"])


def test_a_task_class_is_instantiated_and_checked(monkeypatch: pytest.MonkeyPatch) -> None:
    reg = fake(
        monkeypatch,
        [
            ref("renamed-cifar", "tests.unit.plugin_objects:RenamedCifar"),
            ref("not-a-task", "tests.unit.plugin_objects:GOOD_METHOD"),
        ],
        kind="task",
    )
    task = reg.get("renamed-cifar")
    assert isinstance(task, Task) and task.name == "renamed-cifar" and reg.get("renamed-cifar") is task
    with pytest.raises(PluginError, match="not a harness.api.Task"):
        reg.get("not-a-task")


def test_a_checkout_without_metadata_reads_pyproject(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registry.importlib.metadata, "entry_points", lambda group: [])
    refs = registry.discover("mtl_bench.methods")
    assert {r.name for r in refs} >= {"equal", "pcgrad"}
    assert all(r.distribution == "mtl-loss-bench (checkout)" for r in refs)


def test_methods_refuse_task_counts_they_cannot_handle() -> None:
    assert (
        registry.methods.get("uncertainty").refusal(3) == "uncertainty handles at most 2 task losses, this task has 3"
    )
    assert registry.methods.get("uncertainty").refusal(2) is None
    assert registry.methods.get("equal").refusal(5) is None
    with pytest.raises(TypeError, match="exactly one of loss_file and combiner"):
        MethodInfo("neither", "", "loss")
