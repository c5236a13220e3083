"""A cgroup per oracle: hard limits on its processes, memory and CPU, and a way to kill
every process it started.

The rlimits of `apply_rlimits` are not enough on their own: RLIMIT_NPROC binds neither
root nor a user namespace made by root; RLIMIT_DATA ignores shared mappings and tmpfs
pages (a `MAP_SHARED` mapping or a file in `/tmp` is charged to no process, so the
kernel's OOM killer takes the trainer, not the oracle); and RLIMIT_CPU is per process, so
forked children spin unseen. The memory controller charges shared memory and tmpfs pages
to the cgroup of the process that touched them, the pids controller counts every process
and thread, and the cpu controller caps the share of the machine (`cpu.max`, or
`cpu.cfs_quota_us` on cgroup v1) whatever the oracle forks.

cgroup v2 puts every controller in one folder; v1 (this project's CI machine) has one
hierarchy per controller (`cpu` and `cpuacct` sometimes mounted together), found from
/proc/self/mountinfo. Each limit is set where this process may create cgroups; what could
not be set is named in `missing`, and the run record says which limits held.
"""

from __future__ import annotations

import os
import signal
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

CONTROLLERS = ("pids", "memory", "cpu", "cpuacct")  # cpuacct: v1's CPU time (v2: cpu.stat)
CPU_PERIOD_US = 100_000


@dataclass(frozen=True)
class CgroupLimits:
    """What the cgroup enforces (from `OracleLimits`)."""

    processes: int
    memory_mb: int
    cpu_cores: float


Mount = tuple[Path, str]  # a cgroup file system's mount point, and the cgroup it shows there


def _mounts() -> tuple[dict[str, Mount], Mount | None]:
    """v1 controller -> its mount, and the v2 mount (or None), from /proc/self/mountinfo."""
    v1: dict[str, Mount] = {}
    v2: Mount | None = None
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return {}, None
    for line in lines:
        before, _, after = line.partition(" - ")
        fields, tail = before.split(), after.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        root, mount_point, fstype = fields[3], Path(fields[4]), tail[0]
        if fstype == "cgroup":
            for option in tail[2].split(","):
                if option in CONTROLLERS:
                    v1.setdefault(option, (mount_point, root))
        elif fstype == "cgroup2" and v2 is None:
            v2 = (mount_point, root)
    return v1, v2


def _folder(mount: Mount, own: str) -> Path | None:
    """Where this process's cgroup `own` appears under `mount` (a container may see its
    own cgroup as the mount's root), or None where the mount does not show it."""
    point, root = mount
    try:
        inside = Path(own).relative_to(root)
    except ValueError:
        return None
    return point / inside


def _own_paths() -> tuple[dict[str, str], str | None]:
    """This process's cgroup per v1 controller, and its v2 cgroup, from /proc/self/cgroup."""
    v1: dict[str, str] = {}
    v2 = None
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        return {}, None
    for line in lines:
        number, controllers, path = line.split(":", 2)
        if number == "0" and controllers == "":
            v2 = path
        for name in controllers.split(","):
            if name in CONTROLLERS:
                v1[name] = path
    return v1, v2


def _write(path: Path, value: str) -> str | None:
    """Write a control file; None, or why it failed."""
    try:
        path.write_text(value)
    except OSError as exc:
        return f"{path.name}: {exc.strerror or exc}"
    return None


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _key_value(text: str | None, key: str) -> int | None:
    """The value of `key` in a flat-keyed control file (`cpu.stat`, `memory.events`)."""
    for line in (text or "").splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return None
    return None


@dataclass
class OracleCgroup:
    """Create with the limits; `enter()` runs in the child before exec; `destroy()` kills
    every process left in it and removes it. `folders` holds one folder per v1 controller
    (or the one v2 folder under every name); `missing` the limits that could not be set."""

    limits: CgroupLimits
    folders: dict[str, Path] = field(default_factory=dict)
    missing: dict[str, str] = field(default_factory=dict)
    version: int = 0
    oom_seen: bool = False  # read before the folders go

    @classmethod
    def create(cls, limits: CgroupLimits) -> OracleCgroup:
        cgroup = cls(limits)
        name = f"mtl-oracle-{uuid.uuid4().hex[:12]}"
        v1_mounts, v2_mount = _mounts()
        v1_paths, v2_path = _own_paths()
        v1 = {c: _folder(v1_mounts[c], v1_paths[c]) for c in CONTROLLERS if c in v1_mounts and c in v1_paths}
        v2 = _folder(v2_mount, v2_path) if v2_mount is not None and v2_path is not None else None
        if any(folder is not None for folder in v1.values()):
            cgroup.version = 1
            for controller in CONTROLLERS:
                cgroup._make_v1(controller, v1.get(controller), name)
        elif v2 is not None:
            cgroup.version = 2
            cgroup._make_v2(v2, name)
        else:
            cgroup.missing = dict.fromkeys(("pids", "memory", "cpu"), "no cgroup file system is mounted")
        return cgroup

    # -- creation -----------------------------------------------------------------------
    def _make_v1(self, controller: str, base: Path | None, name: str) -> None:
        if base is None:
            if controller != "cpuacct":
                self.missing[controller] = f"no {controller} cgroup controller is mounted"
            return
        folder = base / name
        if folder.exists():  # cpu and cpuacct mounted together: one folder, made once
            self.folders[controller] = folder
            return
        try:
            folder.mkdir()
        except OSError as exc:
            if controller != "cpuacct":
                self.missing[controller] = f"cannot create a {controller} cgroup: {exc.strerror}"
            return
        self.folders[controller] = folder
        failure = self._set_v1(controller, folder)
        if failure is not None:
            self.missing[controller] = failure

    def _set_v1(self, controller: str, folder: Path) -> str | None:
        limits = self.limits
        if controller == "pids":
            return _write(folder / "pids.max", str(limits.processes))
        if controller == "memory":
            size = str(limits.memory_mb << 20)
            failure = _write(folder / "memory.limit_in_bytes", size)
            if failure is None and (folder / "memory.memsw.limit_in_bytes").exists():
                failure = _write(folder / "memory.memsw.limit_in_bytes", size)  # no escape into swap
            return failure
        if controller == "cpu":
            failure = _write(folder / "cpu.cfs_period_us", str(CPU_PERIOD_US))
            return failure or _write(folder / "cpu.cfs_quota_us", str(self._quota_us()))
        return None

    def _make_v2(self, base: Path, name: str) -> None:
        enabled = set((_read(base / "cgroup.subtree_control") or "").split())
        wanted = {"pids", "memory", "cpu"} - enabled
        if wanted:  # fails where this cgroup holds processes itself (v2's no-internal-process rule)
            _write(base / "cgroup.subtree_control", " ".join(f"+{c}" for c in sorted(wanted)))
        folder = base / name
        try:
            folder.mkdir()
        except OSError as exc:
            self.missing = dict.fromkeys(("pids", "memory", "cpu"), f"cannot create a cgroup: {exc.strerror}")
            return
        self.folders = dict.fromkeys(CONTROLLERS, folder)
        size = str(self.limits.memory_mb << 20)
        settings = {
            "pids": [("pids.max", str(self.limits.processes))],
            "memory": [("memory.max", size), ("memory.swap.max", "0")],
            "cpu": [("cpu.max", f"{self._quota_us()} {CPU_PERIOD_US}")],
        }
        for controller, files in settings.items():
            for file_name, value in files:
                if not (folder / file_name).exists():
                    if file_name != "memory.swap.max":  # no swap accounting: nothing to escape into
                        self.missing[controller] = f"the {controller} controller is not enabled here"
                    break
                failure = _write(folder / file_name, value)
                if failure is not None:
                    self.missing[controller] = failure
                    break

    def _quota_us(self) -> int:
        return max(int(self.limits.cpu_cores * CPU_PERIOD_US), 1000)

    # -- use ----------------------------------------------------------------------------
    def enforced(self) -> list[str]:
        """The limits that hold: e.g. ['pids', 'memory', 'cpu']."""
        return [c for c in ("pids", "memory", "cpu") if c in self.folders and c not in self.missing]

    def describe(self) -> str:
        """For the run record: which limits the cgroup enforces, and why others do not."""
        held = self.enforced()
        text = f"cgroup v{self.version} ({', '.join(held)})" if held else "no cgroup"
        absent = [f"{c}: {self.missing[c]}" for c in ("pids", "memory", "cpu") if c in self.missing]
        return text + (f"; rlimits only for {'; '.join(absent)}" if absent else "")

    def enter(self) -> None:
        """Move the calling process into every folder (for preexec_fn: before exec)."""
        for folder in dict.fromkeys(self.folders.values()):
            with open(folder / "cgroup.procs", "w") as handle:
                handle.write("0")

    def pids(self) -> list[int]:
        found: set[int] = set()
        for folder in set(self.folders.values()):
            text = _read(folder / "cgroup.procs")
            found.update(int(p) for p in (text or "").split())
        return sorted(found)

    def cpu_seconds(self) -> float | None:
        """CPU time of every process that ever ran in the cgroup (children and escaped
        orphans included): v2 `cpu.stat` usage_usec, v1 `cpuacct.usage` (ns). None where
        neither exists; the caller then sums /proc."""
        folder = self.folders.get("cpuacct")
        if folder is None:
            return None
        if self.version == 2:
            usage = _key_value(_read(folder / "cpu.stat"), "usage_usec")
            return None if usage is None else usage / 1e6
        text = _read(folder / "cpuacct.usage")
        try:
            return int(text.strip()) / 1e9 if text else None
        except ValueError:
            return None

    def out_of_memory(self) -> bool:
        """Whether the kernel killed a process of the cgroup at its memory limit."""
        folder = self.folders.get("memory")
        if self.oom_seen or folder is None or "memory" in self.missing:
            return self.oom_seen
        events = _read(folder / ("memory.events" if self.version == 2 else "memory.oom_control"))
        self.oom_seen = (_key_value(events, "oom_kill") or 0) > 0
        return self.oom_seen

    def destroy(self) -> None:
        """Kill what is left (also processes that escaped the session) and remove the folders."""
        self.out_of_memory()
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
        for folder in list(dict.fromkeys(self.folders.values())):
            for _ in range(50):  # the memory cgroup's removal waits for the last page to go
                try:
                    folder.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.02)
        self.folders = {}
