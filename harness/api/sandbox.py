"""The sandbox-backend contract: start the loss oracle's process, isolated and limited.

A backend gets a `LaunchRequest` and must run `request.argv(...)` with the interpreter of
its environment, so that the guest package (the sandbox side of the oracle, which imports
nothing else from the harness) connects to `ipc_dir/oracle.sock`. It mounts only the
guest package, the submission file and the socket folder (plus a Python with torch), and
applies `OracleLimits`; `clean_environment` and `apply_rlimits` help with both.
"""

from __future__ import annotations

import resource
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

SOCKET_NAME = "oracle.sock"
GUEST_PACKAGE = "guest"  # the import name of the guest package inside the sandbox


class OracleLimits(BaseModel):
    """Limits of one oracle process; written into every run record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_mb: int = Field(
        default=2048, description="memory of all its processes, shared memory and tmpfs included (cgroup; RLIMIT_DATA)"
    )
    cpu_cores: float = Field(default=1.0, description="CPU quota: the share of the machine it may use (cgroup)")
    cpu_seconds: int = Field(default=3600, description="CPU time of the oracle (RLIMIT_CPU)")
    processes: int = Field(default=64, description="processes and threads (cgroup; RLIMIT_NPROC)")
    open_files: int = Field(default=64, description="file descriptors (RLIMIT_NOFILE)")
    file_size_mb: int = Field(default=16, description="largest file it may write (RLIMIT_FSIZE)")
    tmpfs_mb: int = Field(default=64, description="size of its private /tmp and /dev/shm")
    init_timeout_s: float = Field(default=120.0, description="start, import and first probe")
    call_timeout_s: float = Field(default=10.0, description="one forward call")
    job_budget_s: float = Field(default=600.0, description="CPU time of the oracle, all calls of one job together")
    job_wall_budget_s: float = Field(
        default=3600.0, description="wall time of all calls of one job together: a backstop against a loss that sleeps"
    )


@dataclass(frozen=True)
class LaunchRequest:
    """One oracle to start. `guest_dir` is a folder named `guest`: mount it (read-only) as
    `<somewhere>/guest` and pass `<somewhere>` as `guest_parent` to `argv`."""

    ipc_dir: Path  # read-write; the oracle connects to ipc_dir/SOCKET_NAME
    submission: Path  # read-only
    guest_dir: Path  # read-only
    limits: OracleLimits

    @property
    def socket_path(self) -> Path:
        return self.ipc_dir / SOCKET_NAME

    @staticmethod
    def argv(python: str, guest_parent: str, socket_path: str, submission: str) -> list[str]:
        """The oracle's command line, with paths as the sandbox sees them."""
        boot = (
            f"import sys; sys.path.insert(0, {guest_parent!r}); "
            f"from {GUEST_PACKAGE}.server import serve; sys.exit(serve(sys.argv[1], sys.argv[2]))"
        )
        return [python, "-I", "-B", "-c", boot, socket_path, submission]


def clean_environment(home: str) -> dict[str, str]:
    """The only environment variables the oracle gets."""
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


def apply_rlimits(limits: OracleLimits) -> None:
    """Set the limits on the calling process (a backend calls this before exec)."""
    mb = 1 << 20
    resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_mb * mb, limits.memory_mb * mb))
    resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
    resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
    resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
    resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))


class OracleProcess(ABC):
    """A running oracle, whatever runs it."""

    @abstractmethod
    def poll(self) -> int | None:
        """Exit code (negative: killed by that signal), or None while it runs."""

    @abstractmethod
    def kill(self) -> None:
        """Kill it and everything it started."""

    @abstractmethod
    def output_tail(self) -> str:
        """The last few kilobytes it printed (untrusted text)."""

    def exit_reason(self) -> str | None:
        """Why it ended, where the backend knows better than its exit code (e.g. a
        container killed at its memory limit); None otherwise. Not abstract, like
        `cpu_seconds`."""
        return None

    def cpu_seconds(self) -> float | None:
        """CPU time (user + system) used so far by the oracle and every process it
        started, or None where the backend cannot tell.

        The job budget (`OracleLimits.job_budget_s`) counts this, not wall time: jobs
        packed on one machine wait for a core, and a fair submission must not fail for
        that. Where it is None the budget falls back to the wall time of the calls.
        Not abstract, so a backend written before it keeps working (on wall time).
        """
        return None


class Sandbox(ABC):
    """A backend, registered under the `mtl_bench.sandboxes` entry-point group."""

    name: str
    description: str

    @abstractmethod
    def launch(self, request: LaunchRequest) -> OracleProcess:
        """Start the oracle; its output goes to a pipe the OracleProcess keeps a tail of."""

    @classmethod
    def available(cls) -> str | None:
        """None when usable here, else the reason it is not."""
        return None
