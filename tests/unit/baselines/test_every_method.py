"""What every registered method must do, a built-in's or a plugin's (one test per method)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness import registry
from harness.api import Task, TaskData, TrainConfig
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import REPO

from .asserts import assert_refuses_or_trains_three_heads, assert_trains_a_few_steps

NAMES = registry.methods.names()


def read_once(task: Task) -> Task:
    """`task` with its tiny synthetic splits read from disk once for all the methods: the
    trainer still calls `load_data` every run, and the data are not what is checked."""
    loaded: dict[tuple[str, str, str], TaskData] = {}
    read = task.load_data

    def load_data(config: TrainConfig, device: torch.device, data_root: Path) -> TaskData:
        key = (config.model_dump_json(), str(device), str(data_root))
        if key not in loaded:
            loaded[key] = read(config, device, data_root)
        return loaded[key]

    task.load_data = load_data  # type: ignore[method-assign]
    return task


TASK = read_once(Cifar100MultiTask())
FACE_TASKS = {name: read_once(type(registry.tasks.get(name))()) for name in ("face-age-gender", "face-adience")}


@pytest.fixture(scope="module")
def face_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("faces")
    for task in FACE_TASKS.values():
        task.prepare_data(face_config(task), root)
    return root


def face_config(task: Task) -> TrainConfig:
    """The task's tiny preset at its smallest: two steps of 16 faces, 16 scored."""
    return task.presets["tiny"][0].model_copy(update={"train_size": 32, "test_size": 16, "batch_size": 16})


@pytest.mark.parametrize("name", NAMES)
def test_trains_a_few_steps(name: str, data_root: Path) -> None:
    assert_trains_a_few_steps(name, TASK, data_root)


@pytest.mark.parametrize("task_name", FACE_TASKS)
@pytest.mark.parametrize("name", NAMES)
@pytest.mark.slow  # repeated training; quick: test_trains_a_few_steps, tests/unit/tasks/test_face_task.py
def test_trains_a_few_steps_on_the_face_tasks(name: str, task_name: str, face_root: Path) -> None:
    """Every method on the regression + classification heads of the face tasks (what CI's
    `baselines --preset tiny` run on every task used to show, at a fraction of its cost)."""
    task = FACE_TASKS[task_name]
    assert_trains_a_few_steps(name, task, face_root, task.presets["tiny"][1][0], face_config(task))


@pytest.mark.parametrize("name", NAMES)
def test_refuses_or_trains_three_tasks(name: str) -> None:
    assert_refuses_or_trains_three_heads(name, registry.methods.get(name).refusal(3))


def test_the_uncertainty_files_refuse_three_tasks() -> None:
    refusing = {name for name in NAMES if registry.methods.get(name).refusal(3) is not None}
    assert {"uncertainty", "uncertainty-paper"} <= refusing


def test_readme_baseline_table_matches_the_registry() -> None:
    readme = (REPO / "README.md").read_text()
    section = readme.split("## Baselines", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|") for line in section.splitlines() if line.startswith("| `")]
    listed = {row[1].strip().strip("`"): row[2].strip().split()[0] for row in rows}
    assert listed == {name: method.level for name, method in registry.methods.load_all()[0].items()}
