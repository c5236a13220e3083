"""The docker backend against the real, private engine (tests/docker_engine.py): the image
built offline, and each error a user can meet, as one line saying what to run."""

from __future__ import annotations

import io
import os
import subprocess
import tarfile
from pathlib import Path

import pytest

from harness.oracle.backends.docker import DockerSandbox, image_name
from harness.oracle.backends.docker_image import LABEL_HARNESS, LABEL_KEY, image_labels
from harness.version import HARNESS_VERSION
from tests.docker_engine import ENGINE
from tests.helpers import PYTHON, REPO

REASON = ENGINE.reason or DockerSandbox.available()
pytestmark = [
    pytest.mark.services,  # the tests' Docker engine
    pytest.mark.skipif(REASON is not None, reason=f"no Docker engine to test against: {REASON}"),
]


def client():  # type: ignore[no-untyped-def]
    import docker

    return docker.from_env(timeout=60)


def in_image(*command: str) -> str:
    """Run a command in the oracle image as the backend runs it (user nobody, no network)."""
    output = client().containers.run(
        image_name(), list(command), remove=True, network_mode="none", read_only=True, user="65534:65534"
    )
    return output.decode()


def test_the_image_is_labelled_with_its_key_and_this_harness() -> None:
    labels = image_labels(client(), image_name())
    assert labels[LABEL_HARNESS] == HARNESS_VERSION and len(labels[LABEL_KEY]) == 16


def test_the_image_runs_python_and_torch_as_nobody_with_only_loopback() -> None:
    out = in_image(
        "python",
        "-I",
        "-c",
        "import os, socket, torch; print(os.getuid(), torch.__version__.split('+')[1], "
        "sorted(name for _, name in socket.if_nameindex()))",
    )
    assert out.split() == ["65534", "cpu", "['lo']"]


@pytest.mark.skipif(not ENGINE.private, reason="builds only on the private engine of the tests")
def test_building_again_is_a_no_op_when_nothing_changed() -> None:
    done = subprocess.run([PYTHON, "runner.py", "sandbox", "build-image"], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0 and "is up to date" in done.stderr, done.stderr


def run_submit(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "runner.py", "submit", "submissions/example_loss.py", "--sandbox", "docker", "--results", tmp_path],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **env},
    )


def test_a_missing_image_is_one_line_saying_what_to_run(tmp_path: Path) -> None:
    done = run_submit(tmp_path, MTL_ORACLE_IMAGE="mtl-bench-oracle:never-built")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert "image mtl-bench-oracle:never-built not found: build it with `python runner.py sandbox build-image`" in (
        done.stderr
    )


def test_an_image_of_another_harness_version_is_refused(tmp_path: Path) -> None:
    empty = io.BytesIO()
    with tarfile.open(fileobj=empty, mode="w") as tar:
        info = tarfile.TarInfo("tmp")
        info.type = tarfile.DIRTYPE
        tar.addfile(info)
    api = client().api
    api.import_image_from_data(
        empty.getvalue(), repository="mtl-bench-oracle", tag="old", changes=[f'LABEL {LABEL_HARNESS}="0.0.1"']
    )
    try:
        done = run_submit(tmp_path, MTL_ORACLE_IMAGE="mtl-bench-oracle:old")
    finally:
        client().images.remove("mtl-bench-oracle:old")
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
    assert f"was built for harness 0.0.1, this is {HARNESS_VERSION}" in done.stderr
    assert "`python runner.py sandbox build-image`" in done.stderr
