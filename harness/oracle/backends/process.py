"""The process backend: a plain subprocess, for machines without bubblewrap or docker."""

from __future__ import annotations

import sys

from harness.api.sandbox import LaunchRequest, OracleProcess, Sandbox, clean_environment
from harness.oracle.backends.base import start_in_cgroup


class ProcessSandbox(Sandbox):
    """A plain subprocess with resource limits, a cleaned environment and a scratch
    folder as working directory. It has no file system or network isolation: use it only
    where neither bubblewrap nor docker exists."""

    name = "process"
    description = "subprocess with rlimits and a cleaned environment (no file/network isolation)"

    def launch(self, request: LaunchRequest) -> OracleProcess:
        scratch = request.ipc_dir / "scratch"
        scratch.mkdir(exist_ok=True)
        command = request.argv(
            sys.executable, str(request.guest_dir.parent), str(request.socket_path), str(request.submission)
        )
        return start_in_cgroup(command, request.limits, cwd=scratch, env=clean_environment(str(scratch)))
