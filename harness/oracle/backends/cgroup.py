"""A pids cgroup per oracle: caps how many processes it may have and kills them all.

RLIMIT_NPROC does not bind root, nor processes in a user namespace created by root, so
the process cap of the sandbox comes from the pids controller (cgroup v1 or v2) where
this process may create cgroups. Elsewhere the rlimit is the only cap, and the run
record says so.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from pathlib import Path

CGROUP_ROOT = Path("/sys/fs/cgroup")


def _pids_base() -> Path | None:
    """The folder under which this process may create pids cgroups, if any."""
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        _, controllers, path = line.split(":", 2)
        if "pids" in controllers.split(","):
            base = CGROUP_ROOT / "pids" / path.lstrip("/")
            if base.is_dir():
                return base
    for line in lines:
        if line.startswith("0::"):
            unified = CGROUP_ROOT / line[3:].lstrip("/")
            available = unified / "cgroup.controllers"
            if available.is_file() and "pids" in available.read_text().split():
                return unified
    return None


class PidsCgroup:
    """Create with a maximum; `enter()` runs in the child before exec; `destroy()` kills
    every process left in it and removes it."""

    def __init__(self, max_pids: int) -> None:
        self.path: Path | None = None
        self.reason = ""
        base = _pids_base()
        if base is None:
            self.reason = "no pids cgroup controller is available"
            return
        path = base / f"mtl-oracle-{uuid.uuid4().hex[:12]}"
        try:
            path.mkdir()
            (path / "pids.max").write_text(str(max_pids))
        except OSError as exc:
            self.reason = f"cannot create a pids cgroup: {exc.strerror}"
            try:
                path.rmdir()
            except OSError:
                pass
            return
        self.path = path

    def enter(self) -> None:
        """Move the calling process into the cgroup (for preexec_fn)."""
        if self.path is not None:
            with open(self.path / "cgroup.procs", "w") as handle:
                handle.write("0")

    def pids(self) -> list[int]:
        if self.path is None:
            return []
        try:
            return [int(p) for p in (self.path / "cgroup.procs").read_text().split()]
        except OSError:
            return []

    def cpu_seconds(self) -> float | None:
        """CPU time of every process that ever ran in the cgroup, from `cpu.stat`'s
        `usage_usec` (exact, children and escaped orphans included). cgroup v2 has that
        file in every cgroup, the cpu controller enabled or not; a v1 pids cgroup has
        none: None, and the caller sums /proc instead."""
        if self.path is None:
            return None
        try:
            text = (self.path / "cpu.stat").read_text()
        except OSError:
            return None
        for line in text.splitlines():
            key, _, value = line.partition(" ")
            if key == "usage_usec":
                try:
                    return int(value) / 1e6
                except ValueError:
                    return None
        return None

    def destroy(self) -> None:
        if self.path is None:
            return
        for _ in range(100):
            pids = self.pids()
            if not pids:
                break
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
            time.sleep(0.02)
        try:
            self.path.rmdir()
        except OSError:
            pass
        else:
            self.path = None
