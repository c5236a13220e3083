"""A real, private Docker engine for the tests (scripts/docker-engine.sh), started once per
session before collection (the hostile corpus picks its backends at import) and reached
through DOCKER_HOST; the oracle image is built offline into a data folder kept between
runs, so an unchanged image is built once per machine.

Where DOCKER_HOST is already set, that engine is used as it is. Where the engine cannot
run (not root, docker.io not installed), the docker tests skip, saying why."""

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
        self.folder: Path | None = None
        self.lock: FileLock | None = None
        self.reason: str | None = None

    def start(self) -> None:
        if os.environ.get("DOCKER_HOST"):
            return
        if os.geteuid() != 0:
            self.reason = "the private Docker engine runs as root"
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
        except Timeout:  # another test session holds the cache: build into a folder of our own
            self.lock = None
            data = Path(tempfile.mkdtemp(prefix="docker-data-"))
        self.folder = Path(tempfile.mkdtemp(prefix="docker-engine-"))
        started = subprocess.run(
            ["bash", str(SCRIPT), "start", str(self.folder), str(data)], capture_output=True, text=True, timeout=60
        )
        if started.returncode != 0:
            self.reason = f"the private Docker engine did not start: {started.stderr.strip()}"
            self.stop()
            return
        os.environ["DOCKER_HOST"] = f"unix://{self.folder}/docker.sock"
        built = subprocess.run(
            [PYTHON, "runner.py", "sandbox", "build-image"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=600,
        )
        if built.returncode != 0:
            self.reason = f"the oracle image did not build: {built.stderr.strip().splitlines()[-1:]}"

    def stop(self) -> None:
        if self.folder is not None:
            subprocess.run(["bash", str(SCRIPT), "stop", str(self.folder)], capture_output=True, timeout=60)
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None
        if self.lock is not None:
            self.lock.release()
            self.lock = None


ENGINE = Engine()
