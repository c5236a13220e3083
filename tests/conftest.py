"""Shared fixtures (small synthetic data in the real CIFAR-100 format, tiny configs) and the
markers of the suite (registered in pyproject.toml):

- `services`: the test needs a started service: the private Docker engine (any docker
  backend parameter, the docker tests marked by hand), the test Slurm cluster (the
  `slurm_cluster` fixture). Set here from the test's fixtures and parameters, and by hand
  where neither says so.
- `slow`: longer than quick feedback allows (end-to-end, many jobs, repeated training);
  another, faster test of the same behaviour stays in the inner loop.

`pytest` runs everything (CI); `pytest -m "not slow and not services"` is the inner loop
(a few minutes on 2 cores) and starts no Docker engine."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api import TrainConfig
from harness.oracle.backends.docker import DockerSandbox
from tasks.cifar100_mtl import SYNTHETIC_FOLDER, SYNTHETIC_TEST, SYNTHETIC_TRAIN, synthetic
from tests.docker_engine import ENGINE

SERVICE_FIXTURES = frozenset({"slurm_cluster"})  # tests/slurm/conftest.py


def _selects_services(config: pytest.Config) -> bool:
    """Whether the -m expression can select a `services` test (alone or also `slow`)."""
    markexpr = config.option.markexpr
    if not markexpr:
        return True
    try:
        from _pytest.mark.expression import Expression  # pytest's own parser of -m (private: guarded)

        expression = Expression.compile(markexpr)
    except (ImportError, AttributeError, SyntaxError):
        return True  # start the engine as before; pytest reports a bad expression itself

    def matcher(present: set[str]):  # type: ignore[no-untyped-def]
        return lambda name, /, **kwargs: name in present

    return any(expression.evaluate(matcher(present)) for present in ({"services"}, {"services", "slow"}))


def pytest_configure(config: pytest.Config) -> None:
    """The private Docker engine, before collection: the sandbox tests choose their backends
    at import. Not where -m leaves out every `services` test (the inner loop)."""
    if not config.option.collectonly and _selects_services(config):
        ENGINE.start()


def needs_services(item: pytest.Item) -> bool:
    if SERVICE_FIXTURES.intersection(getattr(item, "fixturenames", ())):
        return True
    callspec = getattr(item, "callspec", None)
    return callspec is not None and any(isinstance(value, DockerSandbox) for value in callspec.params.values())


@pytest.hookimpl(tryfirst=True)  # before pytest's own -m deselection sees the markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if needs_services(item) and item.get_closest_marker("services") is None:
            item.add_marker(pytest.mark.services)


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
