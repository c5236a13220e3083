"""Shared fixtures: small synthetic data in the real CIFAR-100 format, tiny configs."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import TrainConfig
from tasks.cifar100_mtl import SYNTHETIC_FOLDER, SYNTHETIC_TEST, SYNTHETIC_TRAIN, synthetic
from tests.docker_engine import ENGINE


def pytest_configure(config: pytest.Config) -> None:
    """The private Docker engine, before collection: the sandbox tests choose their backends
    at import."""
    if not config.option.collectonly:
        ENGINE.start()


def pytest_unconfigure(config: pytest.Config) -> None:
    ENGINE.stop()


@pytest.fixture(scope="session")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root holding the synthetic CIFAR-100 set the smoke preset uses."""
    root = tmp_path_factory.mktemp("data")
    synthetic.generate(root / SYNTHETIC_FOLDER, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
    return root


@pytest.fixture
def tiny_config() -> TrainConfig:
    return TrainConfig(epochs=2, batch_size=64, data="synthetic", train_size=256, test_size=200)
