"""The bwrap backend (the default): bubblewrap namespaces and a minimal file system."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import shutil
import subprocess
import sys
from pathlib import Path

from harness.api.sandbox import SOCKET_NAME, LaunchRequest, OracleProcess, Sandbox, clean_environment
from harness.oracle.backends.base import start_in_cgroup

GUEST_PARENT = "/sandbox"
PLUGIN_GROUPS = ("mtl_bench.tasks", "mtl_bench.methods", "mtl_bench.sandboxes")


def python_roots() -> list[Path]:
    """Folders that hold the interpreter and its packages (bound read-only)."""
    roots = {Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve(), Path(sys.executable).resolve().parent.parent}
    return sorted(r for r in roots if not str(r).startswith("/usr"))


def trusted_code_locations() -> list[Path]:
    """Folders of the harness and of every plugin package (tasks, methods, backends) that
    an installed copy keeps inside the Python environment: hidden from the oracle."""
    modules = {"harness", "tasks", "baselines"}
    for group in PLUGIN_GROUPS:
        modules.update(ep.value.split(":")[0].split(".")[0] for ep in importlib.metadata.entry_points(group=group))
    found: set[Path] = set()
    for module in sorted(modules):
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            continue
        if spec is None:
            continue
        if spec.submodule_search_locations:
            found.update(Path(p).resolve() for p in spec.submodule_search_locations)
        elif spec.origin and spec.origin.endswith(".py"):
            found.add(Path(spec.origin).resolve())
    return sorted(found)


class BwrapSandbox(Sandbox):
    """bubblewrap: new user, pid, network, ipc and uts namespaces; a file system made of
    read-only binds of /usr, the Python environment (with the harness's and the plugins'
    own packages masked by empty read-only folders), the oracle's guest package, the
    submission file and the socket folder (read-only: connecting to the host's socket
    writes nothing), and a private /tmp and /dev/shm of `tmpfs_mb` each; nothing else.
    The oracle's cgroup charges what it writes to those to its memory limit."""

    name = "bwrap"
    description = "bubblewrap: no network, private /tmp, read-only python+oracle guest+submission only"

    @classmethod
    def available(cls) -> str | None:
        if shutil.which("bwrap") is None:
            return "bwrap is not installed (Debian/Ubuntu: apt-get install bubblewrap)"
        probe = subprocess.run(
            ["bwrap", "--unshare-all", "--unshare-user", "--disable-userns", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            text=True,
        )
        if probe.returncode != 0:
            reason = " ".join(probe.stderr.split())[:200]
            if "disable-userns" in reason:
                return f"bwrap is too old: it lacks --disable-userns (0.8.0 or later): {reason}"
            return f"bwrap cannot create namespaces here: {reason}"
        return None

    def command(self, request: LaunchRequest) -> list[str]:
        args = [
            "bwrap",
            "--unshare-all",
            "--unshare-user",
            # no nested user namespace: inside one the oracle would hold every capability,
            # could mount a cgroup file system and rewrite its own limits
            "--disable-userns",
            "--uid",
            "65534",
            "--gid",
            "65534",
            "--die-with-parent",
            "--new-session",
            # the private /tmp first: binds below may live under /tmp and must stay visible
            "--size",
            str(request.limits.tmpfs_mb << 20),
            "--tmpfs",
            "/tmp",
            "--ro-bind",
            "/usr",
            "/usr",
        ]
        for top in ("/lib", "/lib64", "/bin", "/sbin", "/lib32"):
            path = Path(top)
            if path.is_symlink():
                args += ["--symlink", os.readlink(path), top]
            elif path.is_dir():
                args += ["--ro-bind", top, top]
        roots = python_roots()
        for root in roots:
            args += ["--ro-bind", str(root), str(root)]
        for location in trusted_code_locations():
            if location.is_dir() and any(location.is_relative_to(r) for r in [*roots, Path("/usr")]):
                args += ["--size", "4096", "--tmpfs", str(location), "--remount-ro", str(location)]
        inside = f"/submission/{request.submission.name}"
        args += [
            "--ro-bind",
            str(request.guest_dir),
            f"{GUEST_PARENT}/{request.guest_dir.name}",
            "--ro-bind",
            str(request.submission),
            inside,
            "--ro-bind",
            str(request.ipc_dir),
            "/ipc",
            "--proc",
            "/proc",
            "--dev",
            "/dev",
            "--size",
            str(request.limits.tmpfs_mb << 20),
            "--tmpfs",
            "/dev/shm",
            "--chdir",
            "/tmp",
            "--remount-ro",
            "/",
            "--clearenv",
        ]
        for key, value in clean_environment("/tmp").items():
            args += ["--setenv", key, value]
        args += request.argv(sys.executable, GUEST_PARENT, f"/ipc/{SOCKET_NAME}", inside)
        return args

    def launch(self, request: LaunchRequest) -> OracleProcess:
        return start_in_cgroup(self.command(request), request.limits)
