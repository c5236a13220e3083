"""A real single-node Slurm cluster for the tests (scripts/slurm-cluster.sh), started once
per session. Without root or the Debian packages it skips with the reason; `.ci/run`
installs the packages, so CI always runs these tests. A cluster that fails to start fails
the tests (it is not a skip: CI must notice)."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import REPO

SCRIPT = REPO / "scripts" / "slurm-cluster.sh"
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd", "sbatch", "sacct")


def unavailable() -> str | None:
    if os.geteuid() != 0:
        return "the test cluster runs its daemons as root"
    missing = [name for name in DAEMONS if shutil.which(name) is None]
    if missing:
        return f"Slurm packages missing ({', '.join(missing)}): run scripts/slurm-cluster.sh install"
    return None


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The cluster's folder; SLURM_CONF points at it while the session runs."""
    reason = unavailable()
    if reason is not None:
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("slurm")
    started = subprocess.run([str(SCRIPT), "start", str(folder)], capture_output=True, text=True, timeout=240)
    if started.returncode != 0:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)
        pytest.fail(f"the test Slurm cluster did not start: {started.stderr.strip()}")
    previous = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(folder / "slurm.conf")
    try:
        yield folder
    finally:
        subprocess.run([str(SCRIPT), "stop", str(folder)], capture_output=True, timeout=120)
        if previous is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = previous
