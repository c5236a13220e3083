"""What every registered method must do, a built-in's or a plugin's (one test per method)."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness import registry
from harness.api import TaskData, TrainConfig
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.helpers import REPO

from .asserts import assert_refuses_or_trains_three_heads, assert_trains_a_few_steps

NAMES = registry.methods.names()


class ReadOnce(Cifar100MultiTask):
    """The CIFAR task whose tiny synthetic splits are read from disk once for all the methods:
    the trainer still calls `load_data` every run, and the data are not what is checked."""

    def __init__(self) -> None:
        super().__init__()
        self.loaded: dict[tuple[str, str, str], TaskData] = {}

    def load_data(self, config: TrainConfig, device: torch.device, data_root: Path) -> TaskData:
        key = (config.model_dump_json(), str(device), str(data_root))
        if key not in self.loaded:
            self.loaded[key] = super().load_data(config, device, data_root)
        return self.loaded[key]


TASK = ReadOnce()


@pytest.mark.parametrize("name", NAMES)
def test_trains_a_few_steps(name: str, data_root: Path) -> None:
    assert_trains_a_few_steps(name, TASK, data_root)


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
