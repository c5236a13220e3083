"""The process backend: a plain subprocess, for machines without bubblewrap or docker."""

from __future__ import annotations

import subprocess
import sys

from harness.api.sandbox import LaunchRequest, OracleProcess, Sandbox, clean_environment
from harness.oracle.backends.base import PopenProcess, oracle_cgroup, rlimit_setter


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
        cgroup = oracle_cgroup(request.limits)
        return PopenProcess(
            subprocess.Popen(
                command,
                cwd=scratch,
                env=clean_environment(str(scratch)),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                preexec_fn=rlimit_setter(request.limits, cgroup),
                start_new_session=True,
            ),
            cgroup,
        )
