"""A bundle's worker tree never outlives the bundle: submitit's preemption handler exits
from inside the wait, and no slot or oracle of the old run may race the requeued one."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from harness.queue.slurm import Bundle


class SleepingBundle(Bundle):
    """A worker stand-in: a shell that starts a grandchild and waits (a slot, an oracle)."""

    def __init__(self, pid_file: Path, seconds: int = 300) -> None:
        super().__init__("results", "keys", "cpu", 1, 1)
        self.pid_file, self.seconds = pid_file, seconds

    def command(self) -> list[str]:
        return ["bash", "-c", f"sleep {self.seconds} & echo $! > {self.pid_file}; wait"]


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().split()[2] if Path(f"/proc/{pid}/stat").exists() else "X"
    return status not in ("Z", "X")


def wait_for_pid(pid_file: Path) -> int:
    deadline = time.monotonic() + 10
    while not (pid_file.exists() and pid_file.read_text().strip()) and time.monotonic() < deadline:
        time.sleep(0.05)
    return int(pid_file.read_text())


def test_an_interrupted_bundle_stops_its_whole_worker_tree(tmp_path: Path) -> None:
    def preempted(signum: int, frame: object) -> None:
        raise SystemExit(-1)  # what submitit's handler does after requeueing

    previous = signal.signal(signal.SIGALRM, preempted)
    bundle = SleepingBundle(tmp_path / "grandchild.pid")
    signal.setitimer(signal.ITIMER_REAL, 1.0)
    try:
        with pytest.raises(SystemExit):
            bundle()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
    grandchild = wait_for_pid(tmp_path / "grandchild.pid")
    deadline = time.monotonic() + 5
    while alive(grandchild) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(grandchild)


def test_a_finished_bundle_returns_its_code(tmp_path: Path) -> None:
    assert SleepingBundle(tmp_path / "pid", seconds=0)() == 0
