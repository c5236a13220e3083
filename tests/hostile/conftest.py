"""The arena every attack test of the corpus uses (one per test module). The corpus is
imported inside the fixture: this file is read before the private Docker engine starts
(tests/conftest.py), and the corpus decides at import which backends can run."""

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[dict]:
    from tests.hostile.corpus import open_arena

    yield from open_arena(tmp_path_factory, data_root)
