"""The docker backend, through the docker SDK: no network, read-only root file system,
all capabilities dropped, no-new-privileges, memory/pids/CPU limits, user nobody.

The image needs Python >= 3.10 with torch; `python runner.py sandbox build-image` builds the
default one offline (harness/oracle/backends/docker_image.py), or name another in
$MTL_ORACLE_IMAGE. The oracle's guest package, the submission file and the socket folder
are the only host paths mounted.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from harness.api.sandbox import SOCKET_NAME, LaunchRequest, OracleProcess, Sandbox, clean_environment
from harness.oracle.backends.docker_image import LABEL_HARNESS, image_labels
from harness.version import HARNESS_VERSION

DEFAULT_IMAGE = "mtl-bench-oracle:latest"
GUEST_PARENT = "/sandbox"


def image_name() -> str:
    return os.environ.get("MTL_ORACLE_IMAGE", DEFAULT_IMAGE)


def _client():
    import docker

    return docker.from_env(timeout=20)


class ContainerProcess(OracleProcess):
    """A container run by the engine. Its CPU time comes from its cgroup where the engine
    runs on this host; for a remote engine the job budget falls back to wall time."""

    def __init__(self, container, memory_mb: int) -> None:  # a docker.models.containers.Container
        self.container = container
        self.memory_mb = memory_mb
        self.oom_killed = False
        self._cpu: float | None = None

    def poll(self) -> int | None:
        """The exit code; a container's process killed by signal N exits with 128 + N,
        returned as -N like a child's."""
        try:
            self.container.reload()
        except Exception:  # the container is gone
            return -9
        if self.container.status in ("exited", "dead"):
            state = self.container.attrs["State"]
            code = int(state.get("ExitCode", -1))
            if code == 137 and not state.get("OOMKilled"):  # the engine may mark the exit before the OOM flag
                time.sleep(0.2)
                try:
                    self.container.reload()
                    state = self.container.attrs["State"]
                except Exception:
                    pass
            self.oom_killed = bool(state.get("OOMKilled"))
            return -(code - 128) if 128 < code < 160 else code
        return None

    def exit_reason(self) -> str | None:
        if self.oom_killed:
            return f"was killed at the container's memory limit of {self.memory_mb} MiB (out of memory)"
        return None

    def kill(self) -> None:
        try:
            self.container.kill()
        except Exception:
            pass
        try:
            self.container.remove(force=True)
        except Exception:
            pass

    def output_tail(self) -> str:
        try:
            return self.container.logs(tail=60).decode("utf-8", "replace")[-4096:]
        except Exception:
            return ""

    def cpu_seconds(self) -> float | None:
        """The container's CPU time from its cgroup where the engine runs on this host (a
        file read); None for a remote engine or a VM, where only the engine's stats call
        could say, a slow HTTP round trip that samples over a second without `one_shot`,
        which older engines lack. The last value read stands once the cgroup is gone."""
        for path, scale in _cgroup_cpu_files(self.container.id):
            try:
                text = path.read_text()
            except OSError:
                continue
            if path.name == "cpu.stat":
                usage = next((line.split()[1] for line in text.splitlines() if line.startswith("usage_usec")), None)
                if usage is None:
                    continue
                text = usage
            self._cpu = int(text.strip()) / scale
            return self._cpu
        return self._cpu


def _cgroup_cpu_files(container_id: str) -> list[tuple[Path, float]]:
    """Where a local engine's container keeps its CPU time (cgroup v1 cgroupfs, v2 cgroupfs
    and v2 systemd drivers), with the divisor to seconds."""
    root = Path("/sys/fs/cgroup")
    return [
        (root / "cpuacct" / "docker" / container_id / "cpuacct.usage", 1e9),
        (root / "cpu,cpuacct" / "docker" / container_id / "cpuacct.usage", 1e9),
        (root / "docker" / container_id / "cpu.stat", 1e6),
        (root / "system.slice" / f"docker-{container_id}.scope" / "cpu.stat", 1e6),
    ]


class DockerSandbox(Sandbox):
    name = "docker"
    description = "docker: --network none, read-only root, caps dropped, no-new-privileges, limits"

    @classmethod
    def available(cls) -> str | None:
        try:
            import docker  # noqa: F401
        except ImportError:
            return "the docker Python package is not installed"
        try:
            client = _client()
            client.ping()
        except Exception as exc:
            where = os.environ.get("DOCKER_HOST") or "the default socket"
            return f"no Docker engine answers at {where} ({type(exc).__name__}): start dockerd or set DOCKER_HOST"
        try:
            labels = image_labels(client, image_name())
        except Exception:
            return f"image {image_name()} not found: build it with `python runner.py sandbox build-image`"
        built_for = labels.get(LABEL_HARNESS)
        if built_for is not None and built_for != HARNESS_VERSION:
            return (
                f"image {image_name()} was built for harness {built_for}, this is {HARNESS_VERSION}: "
                "rebuild it with `python runner.py sandbox build-image`"
            )
        return None

    def run_options(self, request: LaunchRequest) -> dict:
        """Keyword arguments of `containers.run`; kept apart so tests can read them."""
        from docker.types import Ulimit

        limits = request.limits
        inside = f"/submission/{request.submission.name}"
        mb = 1 << 20
        return {
            "image": image_name(),
            "command": request.argv("python", GUEST_PARENT, f"/ipc/{SOCKET_NAME}", inside),
            "detach": True,
            "init": True,  # docker-init is PID 1, so the oracle gets the kernel's default signal handling
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "user": "65534:65534",
            "mem_limit": limits.memory_mb * mb,
            "memswap_limit": limits.memory_mb * mb,
            "pids_limit": limits.processes,
            "nano_cpus": int(limits.cpu_cores * 1e9),
            "ulimits": [
                Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 5),
                Ulimit(name="fsize", soft=limits.file_size_mb * mb, hard=limits.file_size_mb * mb),
            ],
            "tmpfs": {"/tmp": f"size={limits.tmpfs_mb}m"},
            "shm_size": f"{limits.tmpfs_mb}m",
            "working_dir": "/tmp",
            "environment": clean_environment("/tmp"),
            "volumes": {
                str(request.guest_dir): {"bind": f"{GUEST_PARENT}/{request.guest_dir.name}", "mode": "ro"},
                str(request.submission): {"bind": inside, "mode": "ro"},
                str(request.ipc_dir): {"bind": "/ipc", "mode": "ro"},  # connecting needs no write to the folder
            },
        }

    def launch(self, request: LaunchRequest) -> OracleProcess:
        os.chmod(request.ipc_dir, 0o755)
        if request.socket_path.exists():
            os.chmod(request.socket_path, 0o666)  # the container's user (nobody) must connect
        os.chmod(request.submission, 0o644)
        return ContainerProcess(_client().containers.run(**self.run_options(request)), request.limits.memory_mb)
