"""What the built-in backends share: a subprocess in its own session whose output tail
is kept, joined to its own cgroup (processes, memory, CPU quota), with the oracle's
resource limits applied before exec, and whose CPU time (the job budget's measure) is
read from the cgroup or /proc."""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import threading
from collections.abc import Callable, Iterable

from harness.api.sandbox import OracleLimits, OracleProcess, apply_rlimits
from harness.oracle.backends.cgroup import CgroupLimits, OracleCgroup


def oracle_cgroup(limits: OracleLimits) -> OracleCgroup:
    """The cgroup of one oracle, with its share of the limits."""
    return OracleCgroup.create(CgroupLimits(limits.processes, limits.memory_mb, limits.cpu_cores))


def rlimit_setter(limits: OracleLimits, cgroup: OracleCgroup | None = None) -> Callable[[], None]:
    """A preexec function: join the cgroup, apply the limits, before exec."""

    def apply() -> None:
        if cgroup is not None:
            cgroup.enter()
        apply_rlimits(limits)

    return apply


def _proc_stat(pid: int) -> tuple[int, int] | None:
    """(ppid, utime + stime + cutime + cstime in clock ticks) from /proc/<pid>/stat, or
    None if it is gone. The command name (field 2) may hold spaces and parentheses: the
    fields are split after its last ')'. cutime and cstime hold the children it reaped."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            text = handle.read()
    except OSError:
        return None
    fields = text[text.rfind(b")") + 1 :].split()
    # fields[0] is the state (stat field 3): ppid is field 4, utime..cstime fields 14..17
    try:
        return int(fields[1]), sum(int(f) for f in fields[11:15])
    except (IndexError, ValueError):
        return None


def proc_tree_cpu_seconds(root: int, extra: Iterable[int] = ()) -> float | None:
    """CPU seconds of `root`, the processes in `extra` and all their live descendants
    (found by the ppid field of /proc/*/stat), or None if /proc does not show `root`."""
    try:
        names = os.listdir("/proc")
        ticks_per_second = os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return None
    stats: dict[int, tuple[int, int]] = {}
    for name in names:
        if name.isdigit():
            stat = _proc_stat(int(name))
            if stat is not None:
                stats[int(name)] = stat
    if root not in stats:
        return None
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, _) in stats.items():
        children[ppid].append(pid)
    seen: set[int] = set()
    todo = [root, *extra]
    while todo:
        pid = todo.pop()
        if pid in seen or pid not in stats:
            continue
        seen.add(pid)
        todo.extend(children[pid])
    return sum(stats[pid][1] for pid in seen) / ticks_per_second


class PopenProcess(OracleProcess):
    """A subprocess in its own session; a thread keeps the tail of its output."""

    def __init__(self, popen: subprocess.Popen, cgroup: OracleCgroup, tail_bytes: int = 4096) -> None:
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

    def exit_reason(self) -> str | None:
        if self.cgroup.out_of_memory():
            return f"was killed at its memory limit of {self.cgroup.limits.memory_mb} MiB (out of memory)"
        return None

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

    def cpu_seconds(self) -> float | None:
        """From the cgroup's `cpu.stat` where it has one (cgroup v2: exact); else the sum
        over /proc of the Popen'd process, its descendants (bwrap runs the oracle as its
        grandchild) and whatever else sits in its cgroup (orphans it left)."""
        exact = self.cgroup.cpu_seconds()
        if exact is not None:
            return exact
        if self.popen.poll() is not None:  # reaped: its pid may already be another's
            return None
        return proc_tree_cpu_seconds(self.popen.pid, self.cgroup.pids())


def cgroup_limits() -> str:
    """Which limits a cgroup enforces on this machine (for the run record)."""
    probe = OracleCgroup.create(CgroupLimits(1, 64, 1.0))
    text = probe.describe()
    probe.destroy()
    return text


def start_in_cgroup(command: list[str], limits: OracleLimits, **popen: object) -> PopenProcess:
    """Start `command` in a cgroup of its own with the limits applied before exec; its
    output goes to the kept tail. A start that fails removes the cgroup again."""
    cgroup = oracle_cgroup(limits)
    try:
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=rlimit_setter(limits, cgroup),
            start_new_session=True,
            **popen,  # type: ignore[call-overload]
        )
    except BaseException:
        cgroup.destroy()
        raise
    return PopenProcess(process, cgroup)
