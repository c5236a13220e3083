"""The docker backend, through the docker SDK: no network, read-only root file system,
all capabilities dropped, no-new-privileges, memory/pids/CPU limits, user nobody.

The image needs Python >= 3.10 with torch; build the default one with
`docker build -t mtl-bench-oracle -f harness/oracle/backends/Dockerfile .` or name another
in $MTL_ORACLE_IMAGE. The oracle's guest package, the submission file and the socket
folder are the only host paths mounted.
"""

from __future__ import annotations

import os

from harness.api.sandbox import SOCKET_NAME, LaunchRequest, OracleProcess, Sandbox, clean_environment

DEFAULT_IMAGE = "mtl-bench-oracle:latest"
GUEST_PARENT = "/sandbox"


def image_name() -> str:
    return os.environ.get("MTL_ORACLE_IMAGE", DEFAULT_IMAGE)


def _client():
    import docker

    return docker.from_env(timeout=20)


class ContainerProcess(OracleProcess):
    """A container run by the engine. It does not report CPU time (`cpu_seconds` is
    None): with docker the job budget falls back to the wall time of the calls."""

    def __init__(self, container) -> None:  # a docker.models.containers.Container
        self.container = container

    def poll(self) -> int | None:
        try:
            self.container.reload()
        except Exception:  # the container is gone
            return -9
        if self.container.status in ("exited", "dead"):
            return int(self.container.attrs["State"].get("ExitCode", -1))
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
        """None: the container's processes are not this host's children to sum in /proc
        (a remote engine, a VM), and the engine's stats call is a slow HTTP round trip
        that samples over a second without `one_shot`, which older engines lack."""
        return None


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
            return f"no Docker engine answers ({type(exc).__name__})"
        try:
            client.images.get(image_name())
        except Exception:
            return (
                f"image {image_name()} not found; build it with "
                f"`docker build -t {DEFAULT_IMAGE} -f harness/oracle/backends/Dockerfile .`"
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
            "network_mode": "none",
            "read_only": True,
            "cap_drop": ["ALL"],
            "security_opt": ["no-new-privileges"],
            "user": "65534:65534",
            "mem_limit": limits.memory_mb * mb,
            "memswap_limit": limits.memory_mb * mb,
            "pids_limit": limits.processes,
            "nano_cpus": 1_000_000_000,
            "ulimits": [
                Ulimit(name="nofile", soft=limits.open_files, hard=limits.open_files),
                Ulimit(name="cpu", soft=limits.cpu_seconds, hard=limits.cpu_seconds + 5),
                Ulimit(name="fsize", soft=limits.file_size_mb * mb, hard=limits.file_size_mb * mb),
            ],
            "tmpfs": {"/tmp": "size=64m"},
            "working_dir": "/tmp",
            "environment": clean_environment("/tmp"),
            "volumes": {
                str(request.guest_dir): {"bind": f"{GUEST_PARENT}/{request.guest_dir.name}", "mode": "ro"},
                str(request.submission): {"bind": inside, "mode": "ro"},
                str(request.ipc_dir): {"bind": "/ipc", "mode": "rw"},
            },
        }

    def launch(self, request: LaunchRequest) -> OracleProcess:
        os.chmod(request.ipc_dir, 0o755)
        if request.socket_path.exists():
            os.chmod(request.socket_path, 0o666)  # the container's user (nobody) must connect
        os.chmod(request.submission, 0o644)
        return ContainerProcess(_client().containers.run(**self.run_options(request)))
