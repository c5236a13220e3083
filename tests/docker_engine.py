"""A real, private Docker engine for the tests (scripts/docker-engine.sh), started once per
session before collection (the hostile corpus picks its backends at import) and reached
through DOCKER_HOST; the oracle image is built offline into a data folder kept between
runs (under a lock), so an unchanged image is built once per machine.

Where DOCKER_HOST is already set, or this is not root, the engine the docker SDK finds
is used as it is. Where the private engine cannot start or the image cannot be built
(docker.io not installed, no CPU torch wheel), the docker tests skip, saying why; `.ci/run`
installs docker.io, so there they run."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from filelock import FileLock, Timeout

from tests.helpers import PYTHON, REPO

SCRIPT = REPO / "scripts" / "docker-engine.sh"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "mtl-bench" / "docker-engine"


class Engine:
    def __init__(self) -> None:
        self.folder: Path | None = None  # sockets, PID files and logs of the private engine
        self.own_data: Path | None = None  # a data folder of this session only, removed at the end
        self.lock: FileLock | None = None
        self.reason: str | None = None

    @property
    def private(self) -> bool:
        """The tests run against the engine started here (on this host)."""
        return self.folder is not None and self.reason is None

    def start(self) -> None:
        if os.environ.get("DOCKER_HOST") or os.geteuid() != 0:
            return
        missing = [d for d in ("containerd", "dockerd", "runc") if shutil.which(d) is None]
        if missing or not Path("/usr/bin/docker").exists():
            self.reason = (
                f"docker.io is not installed ({', '.join(missing) or 'client'}): scripts/docker-engine.sh install"
            )
            return
        CACHE.mkdir(parents=True, exist_ok=True)
        data = CACHE / "data"
        self.lock = FileLock(str(CACHE / "lock"))
        try:
            self.lock.acquire(timeout=0)
        except Timeout:  # another session holds the cache: build into a folder of our own
            self.lock = None
            data = self.own_data = Path(tempfile.mkdtemp(prefix="docker-data-"))
        self.folder = Path(tempfile.mkdtemp(prefix="docker-engine-"))
        try:
            started = subprocess.run(
                ["bash", str(SCRIPT), "start", str(self.folder), str(data)], capture_output=True, text=True, timeout=60
            )
        except subprocess.TimeoutExpired:
            self.reason = f"the private Docker engine did not start within 60 s (logs in {self.folder}/log)"
            return
        if started.returncode != 0:
            self.reason = f"the private Docker engine did not start: {started.stderr.strip()}"
            return
        os.environ["DOCKER_HOST"] = f"unix://{self.folder}/docker.sock"
        try:
            built = subprocess.run(
                [PYTHON, "runner.py", "sandbox", "build-image"], cwd=REPO, capture_output=True, text=True, timeout=900
            )
        except subprocess.TimeoutExpired:
            self.reason = "the oracle image did not build within 15 minutes"
            return
        if built.returncode != 0:
            self.reason = f"the oracle image did not build: {(built.stderr.strip().splitlines() or ['?'])[-1]}"

    def stop(self) -> None:
        if self.folder is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", str(self.folder)], capture_output=True, timeout=120)
            if self.reason is None:  # a failed start keeps its logs for the reader of the reason
                shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self.own_data is not None:
            shutil.rmtree(self.own_data, ignore_errors=True)
            self.own_data = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


ENGINE = Engine()
