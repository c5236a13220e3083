"""What the built-in backends share: a subprocess in its own session whose output tail
is kept, joined to a pids cgroup, with the oracle's resource limits applied before exec."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
from collections.abc import Callable

from harness.api.sandbox import OracleLimits, OracleProcess, apply_rlimits
from harness.oracle.backends.cgroup import PidsCgroup


def rlimit_setter(limits: OracleLimits, cgroup: PidsCgroup | None = None) -> Callable[[], None]:
    """A preexec function: join the pids cgroup, apply the limits, before exec."""

    def apply() -> None:
        if cgroup is not None:
            cgroup.enter()
        apply_rlimits(limits)

    return apply


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
        stdout = self.popen.stdout
        assert stdout is not None
        for chunk in iter(lambda: stdout.read1(4096), b""):  # type: ignore[attr-defined]
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
