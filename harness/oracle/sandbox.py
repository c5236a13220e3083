"""Sandbox backends that start the oracle process: bwrap, docker and process.

Every backend gets the same resource limits (memory, CPU time, processes, open files,
file size) and a cleaned environment; the trainer adds a per-call time-out and a
whole-job time budget on top (see client.py).
"""
from __future__ import annotations

import collections
import os
import resource
import shutil
import signal
import subprocess
import sys
import threading
from abc import ABC, abstractmethod
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from harness.errors import HarnessError
from harness.oracle.cgroup import PidsCgroup

HARNESS_DIR = Path(__file__).resolve().parent.parent
SOCKET_NAME = "oracle.sock"
SANDBOX_ROOT = "/sandbox"


class OracleLimits(BaseModel):
    """Limits of one oracle process; written into every run record."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    memory_mb: int = Field(default=2048, description="address space for data (RLIMIT_DATA)")
    cpu_seconds: int = Field(default=3600, description="CPU time of the oracle (RLIMIT_CPU)")
    processes: int = Field(default=64, description="processes and threads (RLIMIT_NPROC)")
    open_files: int = Field(default=64, description="file descriptors (RLIMIT_NOFILE)")
    file_size_mb: int = Field(default=16, description="largest file it may write (RLIMIT_FSIZE)")
    init_timeout_s: float = Field(default=120.0, description="start, import and first probe")
    call_timeout_s: float = Field(default=10.0, description="one forward call")
    job_budget_s: float = Field(default=600.0, description="all calls of one job together")


def boot_code(harness_parent: str) -> str:
    """The `-c` program: put the harness on the path and serve."""
    return (
        "import sys; sys.path.insert(0, %r); "
        "from harness.oracle.server import serve; sys.exit(serve(sys.argv[1], sys.argv[2]))"
        % harness_parent
    )


def rlimit_setter(limits: OracleLimits, cgroup: PidsCgroup | None = None):
    """A preexec function: join the pids cgroup, apply the limits, before exec."""

    def apply() -> None:
        if cgroup is not None:
            cgroup.enter()
        mb = 1 << 20
        resource.setrlimit(resource.RLIMIT_DATA, (limits.memory_mb * mb, limits.memory_mb * mb))
        resource.setrlimit(resource.RLIMIT_CPU, (limits.cpu_seconds, limits.cpu_seconds + 5))
        resource.setrlimit(resource.RLIMIT_NPROC, (limits.processes, limits.processes))
        resource.setrlimit(resource.RLIMIT_NOFILE, (limits.open_files, limits.open_files))
        resource.setrlimit(resource.RLIMIT_FSIZE, (limits.file_size_mb * mb, limits.file_size_mb * mb))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def clean_environment(home: str) -> dict[str, str]:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "HOME": home,
        "LANG": "C.UTF-8",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
    }


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


class PopenProcess(OracleProcess):
    """A subprocess in its own session; a thread keeps the tail of its output."""

    def __init__(self, popen: subprocess.Popen, cgroup: PidsCgroup, tail_bytes: int = 4096) -> None:
        self.popen = popen
        self.cgroup = cgroup
        self._tail: collections.deque[bytes] = collections.deque()
        self._tail_size = 0
        self._limit = tail_bytes
        self._reader = threading.Thread(target=self._drain, daemon=True)
        self._reader.start()

    def _drain(self) -> None:
        assert self.popen.stdout is not None
        for chunk in iter(lambda: self.popen.stdout.read1(4096), b""):  # type: ignore[union-attr]
            self._tail.append(chunk)
            self._tail_size += len(chunk)
            while self._tail_size > self._limit and len(self._tail) > 1:
                self._tail_size -= len(self._tail.popleft())

    def poll(self) -> int | None:
        return self.popen.poll()

    def kill(self) -> None:
        if self.popen.poll() is None:
            try:
                os.killpg(self.popen.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.popen.kill()
        self.cgroup.destroy()  # also what escaped the process group
        self.popen.wait()
        self._reader.join(timeout=2)

    def output_tail(self) -> str:
        return b"".join(self._tail)[-self._limit :].decode("utf-8", "replace")


def process_cap() -> str:
    """How the process limit is enforced on this machine (for the run record)."""
    probe = PidsCgroup(1)
    enforced = probe.path is not None
    probe.destroy()
    return "pids cgroup" if enforced else f"RLIMIT_NPROC only ({probe.reason})"


class Sandbox(ABC):
    name: str
    description: str

    @abstractmethod
    def launch(self, ipc_dir: Path, submission: Path, limits: OracleLimits) -> OracleProcess:
        """Start the oracle; it connects to `ipc_dir/oracle.sock`. Output goes to a pipe."""

    def socket_path(self, ipc_dir: Path) -> Path:
        return ipc_dir / SOCKET_NAME

    @classmethod
    def available(cls) -> str | None:
        """None when usable here, else the reason it is not."""
        return None


class ProcessSandbox(Sandbox):
    """A plain subprocess with resource limits, a cleaned environment and a scratch
    folder as working directory. It has no file system or network isolation: use it only
    where neither bubblewrap nor docker exists."""

    name = "process"
    description = "subprocess with rlimits and a cleaned environment (no file/network isolation)"

    def launch(self, ipc_dir: Path, submission: Path, limits: OracleLimits) -> OracleProcess:
        scratch = ipc_dir / "scratch"
        scratch.mkdir(exist_ok=True)
        command = [
            sys.executable, "-I", "-B", "-c", boot_code(str(HARNESS_DIR.parent)),
            str(self.socket_path(ipc_dir)), str(submission),
        ]
        cgroup = PidsCgroup(limits.processes)
        return PopenProcess(subprocess.Popen(
            command, cwd=scratch, env=clean_environment(str(scratch)), stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, preexec_fn=rlimit_setter(limits, cgroup),
            start_new_session=True,
        ), cgroup)


def _python_roots() -> list[Path]:
    """Folders that hold the interpreter and its packages (bound read-only)."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    return sorted(r for r in roots if not str(r).startswith("/usr"))


class BwrapSandbox(Sandbox):
    """bubblewrap: new user, pid, network, ipc and uts namespaces; a file system made of
    read-only binds of /usr, the Python environment, the harness package and the
    submission file, a private /tmp and the socket folder; nothing else."""

    name = "bwrap"
    description = "bubblewrap: no network, private /tmp, read-only python+harness+submission only"

    @classmethod
    def available(cls) -> str | None:
        if shutil.which("bwrap") is None:
            return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        probe = subprocess.run(
            ["bwrap", "--unshare-all", "--ro-bind", "/", "/", "true"], capture_output=True, text=True
        )
        if probe.returncode != 0:
            return f"bwrap cannot create namespaces here: {probe.stderr.strip()[:200]}"
        return None

    def command(self, ipc_dir: Path, submission: Path) -> list[str]:
        args = [
            "bwrap", "--unshare-all", "--unshare-user", "--uid", "65534", "--gid", "65534",
            "--die-with-parent", "--new-session",
            # the private /tmp first: binds below may live under /tmp and must stay visible
            "--tmpfs", "/tmp", "--ro-bind", "/usr", "/usr",
        ]
        for top in ("/lib", "/lib64", "/bin", "/sbin", "/lib32"):
            path = Path(top)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), top]
            elif path.is_dir():
                args += ["--ro-bind", top, top]
        for root in _python_roots():
            args += ["--ro-bind", str(root), str(root)]
        inside = f"/submission/{submission.name}"
        args += [
            "--ro-bind", str(HARNESS_DIR), f"{SANDBOX_ROOT}/harness",
            "--ro-bind", str(submission), inside,
            "--bind", str(ipc_dir), "/ipc",
            "--proc", "/proc", "--dev", "/dev", "--chdir", "/tmp",
            "--remount-ro", "/", "--clearenv",
        ]
        for key, value in clean_environment("/tmp").items():
            args += ["--setenv", key, value]
        args += [sys.executable, "-I", "-B", "-c", boot_code(SANDBOX_ROOT), f"/ipc/{SOCKET_NAME}", inside]
        return args

    def launch(self, ipc_dir: Path, submission: Path, limits: OracleLimits) -> OracleProcess:
        cgroup = PidsCgroup(limits.processes)
        return PopenProcess(subprocess.Popen(
            self.command(ipc_dir, submission), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=rlimit_setter(limits, cgroup), start_new_session=True,
        ), cgroup)


def sandbox_names() -> list[str]:
    return ["bwrap", "docker", "process"]


def choose_sandbox(name: str | None, warn=print) -> Sandbox:
    """The named backend, or by default bwrap where it works, else process with a warning."""
    from harness.oracle.docker_sandbox import DockerSandbox

    backends: dict[str, type[Sandbox]] = {
        "bwrap": BwrapSandbox, "docker": DockerSandbox, "process": ProcessSandbox,
    }
    if name is None:
        reason = BwrapSandbox.available()
        if reason is None:
            return BwrapSandbox()
        warn(f"warning: {reason}; falling back to the process sandbox, which does not isolate "
             "the file system or the network")
        return ProcessSandbox()
    if name not in backends:
        raise HarnessError(f"unknown sandbox {name!r}; choose from {', '.join(backends)}")
    reason = backends[name].available()
    if reason is not None:
        raise HarnessError(f"sandbox {name} is not usable: {reason}")
    return backends[name]()
