"""The oracle's job budget counts its CPU time, not the wall time of the calls: a
submission that waits (as a fair one does for a core on a packed machine) is not failed
for it, one that computes past the budget is; a generous wall-time backstop still stops
one that only sleeps; and the CPU time read from /proc counts the processes the oracle
started."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.api.errors import SubmissionError
from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.api.sandbox import LaunchRequest, OracleLimits, OracleProcess, Sandbox
from harness.oracle import client
from harness.oracle.backends.base import PopenProcess, oracle_cgroup, proc_tree_cpu_seconds, rlimit_setter
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.backends.cgroup import CgroupLimits, OracleCgroup
from harness.oracle.backends.process import ProcessSandbox
from harness.oracle.client import OracleClient
from tests.helpers import write_submission

LOSS_NAMES = ("fine", "coarse")
CONFIG = TrainConfig(epochs=2, batch_size=64, data="synthetic", train_size=192, test_size=100)
LIMITS = OracleLimits(init_timeout_s=60, call_timeout_s=5, job_budget_s=1.0)
STEP = StepContext(epoch=1, total_epochs=2, lr=0.1)
BWRAP_REASON = BwrapSandbox.available()

SANDBOXES = [
    pytest.param(ProcessSandbox(), marks=pytest.mark.slow, id="process"),  # quick: the bwrap run
    pytest.param(
        BwrapSandbox(), marks=pytest.mark.skipif(BWRAP_REASON is not None, reason=str(BWRAP_REASON)), id="bwrap"
    ),
]

# the load-time probe calls forward with total_epochs=10: it skips the slow part
SLEEPING = """
import time
import torch.nn as nn

class MultiTaskLoss(nn.Module):
    def forward(self, fine, coarse, epoch, total_epochs):
        if total_epochs == 2:
            time.sleep(0.25)
        return fine + coarse
"""

BUSY = """
import time
import torch.nn as nn

class MultiTaskLoss(nn.Module):
    def forward(self, fine, coarse, epoch, total_epochs):
        if total_epochs == 2:
            end = time.process_time() + 0.3
            while time.process_time() < end:
                pass
        return fine + coarse
"""


# saving the loss state calls state_dict: this one sleeps there
SLOW_STATE = """
import time
import torch.nn as nn

class MultiTaskLoss(nn.Module):
    def state_dict(self, *args, **kwargs):
        time.sleep(3)
        return super().state_dict(*args, **kwargs)

    def forward(self, fine, coarse, epoch, total_epochs):
        return fine + coarse
"""


def start(tmp_path: Path, body: str, sandbox: Sandbox, limits: OracleLimits = LIMITS) -> OracleClient:
    tmp_path.mkdir(parents=True, exist_ok=True)
    return OracleClient(write_submission(tmp_path, body), LOSS_NAMES, CONFIG, sandbox, limits)


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_waiting_calls_pass_the_budget_in_wall_time_and_finish(tmp_path: Path, sandbox: Sandbox) -> None:
    runner = start(tmp_path, SLEEPING, sandbox)
    try:
        for _ in range(6):  # 1.5s of wall time, no CPU time to speak of
            assert runner([1.0, 2.0], STEP).weights == [1.0, 1.0]
        assert runner.call_seconds > 1.4 * LIMITS.job_budget_s  # a wall-time budget would have failed it
    finally:
        runner.close()


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_computing_past_the_cpu_budget_fails_the_job(tmp_path: Path, sandbox: Sandbox) -> None:
    runner = start(tmp_path, BUSY, sandbox)
    with pytest.raises(SubmissionError) as caught:
        for _ in range(12):  # 3.6s of CPU time if it ran them all
            runner([1.0, 2.0], STEP)
    assert "used more than its CPU-time budget of 1s for the job (during forward at epoch 1)" in str(caught.value)
    # failed once past the budget, before the calls ended (the CPU time is read once a second)
    assert runner.call_seconds > LIMITS.job_budget_s and runner.calls < 12


class NoCpuTime(OracleProcess):
    """A backend's process that cannot tell its CPU time (the default of the contract)."""

    def __init__(self, inner: OracleProcess) -> None:
        self.inner = inner

    def poll(self) -> int | None:
        return self.inner.poll()

    def kill(self) -> None:
        self.inner.kill()

    def output_tail(self) -> str:
        return self.inner.output_tail()


class NoCpuTimeSandbox(Sandbox):
    name = "no-cpu-time"
    description = "the process backend, without CPU time"

    def launch(self, request: LaunchRequest) -> OracleProcess:
        return NoCpuTime(ProcessSandbox().launch(request))


def test_a_backend_without_cpu_time_keeps_the_budget_on_wall_time(tmp_path: Path) -> None:
    runner = start(tmp_path, SLEEPING, NoCpuTimeSandbox())
    with pytest.raises(SubmissionError, match="time budget of 1s for the job .*wall time") as caught:
        for _ in range(6):
            runner([1.0, 2.0], STEP)
    assert "CPU-time" not in str(caught.value)
    assert runner.calls < 6


@pytest.mark.parametrize(
    ("sandbox", "job_budget_s"),
    [
        pytest.param(ProcessSandbox(), 1.0, id="cpu-time"),  # the same 1s CPU budget, not reached
        pytest.param(NoCpuTimeSandbox(), 60.0, id="no-cpu-time"),  # the budget on wall time, far off
    ],
)
def test_waiting_calls_past_the_wall_time_backstop_fail_the_job(
    tmp_path: Path, sandbox: Sandbox, job_budget_s: float
) -> None:
    """The calls of test_waiting_calls_pass_the_budget_in_wall_time_and_finish, which finish
    under the default backstop (3600s), fail under one of 1s, whatever the job budget."""
    limits = LIMITS.model_copy(update={"job_budget_s": job_budget_s, "job_wall_budget_s": 1.0})
    runner = start(tmp_path, SLEEPING, sandbox, limits)
    try:
        with pytest.raises(SubmissionError) as caught:
            for _ in range(6):  # 1.5s of wall time if it ran them all
                runner([1.0, 2.0], STEP)
    finally:
        runner.close()
    message = str(caught.value)
    assert "calls took more than the wall-time backstop of 1s for the job (during forward at epoch 1)" in message
    assert "budget" not in message
    assert runner.calls < 6


def test_saving_the_state_times_out_on_the_call_time_out(tmp_path: Path) -> None:
    limits = LIMITS.model_copy(update={"call_timeout_s": 1.0})
    runner = start(tmp_path, SLOW_STATE, ProcessSandbox(), limits)
    try:
        with pytest.raises(SubmissionError, match=r"^time-out: saving the loss state took longer than 1s$"):
            runner.get_state()  # the call's time-out (1s), not the start-up's (60s)
    finally:
        runner.close()


CHILD = "import time\nwhile time.process_time() < 0.4: pass\nprint('burnt', flush=True)\n"
PARENT = textwrap.dedent(
    f"""
    import subprocess, sys, time
    subprocess.run([sys.executable, "-c", {CHILD!r}])  # reaped: in the parent's cutime
    subprocess.Popen([sys.executable, "-c", {CHILD!r} + "time.sleep(60)"])  # alive: a descendant
    time.sleep(60)
    """
)


def test_proc_tree_sum_counts_live_and_reaped_children() -> None:
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline() == parent.stdout.readline() == "burnt\n"
        used = proc_tree_cpu_seconds(parent.pid)
        assert used is not None and used >= 0.75  # 0.4s in each child, counted at the root
    finally:
        os.killpg(parent.pid, signal.SIGKILL)  # its process group: the parent and the live child
        parent.wait()


def test_popen_process_reports_the_cpu_time_of_what_it_started() -> None:
    cgroup = oracle_cgroup(OracleLimits(processes=16))
    process = PopenProcess(
        subprocess.Popen(
            [sys.executable, "-c", PARENT],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=rlimit_setter(OracleLimits(), cgroup),
            start_new_session=True,
        ),
        cgroup,
    )
    try:
        deadline = time.monotonic() + 10
        while process.output_tail().count("burnt") < 2:
            assert time.monotonic() < deadline, "the children did not burn their CPU time"
            time.sleep(0.02)
        used = process.cpu_seconds()
        assert used is not None and used >= 0.75
    finally:
        process.kill()
    assert not cgroup.folders  # no cgroup left to ask, and its pid may be another process's now
    assert process.cpu_seconds() is None


@pytest.mark.parametrize(
    ("version", "file_name", "text"),
    [
        (2, "cpu.stat", "usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\n"),
        (1, "cpuacct.usage", "2500000000\n"),
    ],
)
def test_cgroup_cpu_time_is_read_where_it_exists(tmp_path: Path, version: int, file_name: str, text: str) -> None:
    cgroup = OracleCgroup(CgroupLimits(16, 256, 1.0), folders={"cpuacct": tmp_path}, version=version)
    assert cgroup.cpu_seconds() is None  # not written yet
    (tmp_path / file_name).write_text(text)
    assert cgroup.cpu_seconds() == 2.5


# a child forked at the first training call spins between calls; every call returns at once
SPINNER = """
import os
import torch.nn as nn

class MultiTaskLoss(nn.Module):
    started = False

    def forward(self, fine, coarse, epoch, total_epochs):
        if total_epochs == 2 and not MultiTaskLoss.started:
            MultiTaskLoss.started = True
            if os.fork() == 0:
                while True:
                    pass
        return fine + coarse
"""


@pytest.mark.parametrize("sandbox", SANDBOXES)
def test_cpu_spent_between_calls_is_read_at_each_epoch(
    tmp_path: Path, sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Within an epoch the CPU time is read at most once per CPU_CHECK_INTERVAL_S (here
    never again); the first call of the next epoch reads it whatever the interval, and so
    does the trainer's check after the last epoch."""
    monkeypatch.setattr(client, "CPU_CHECK_INTERVAL_S", 1000.0)
    for last_check in ("call", "between epochs"):
        runner = start(tmp_path / last_check, SPINNER, sandbox)
        try:
            runner([1.0, 2.0], StepContext(epoch=0, total_epochs=2, lr=0.1))  # forks the spinner
            time.sleep(1.6)  # the child spins past the 1s budget, no call in flight
            runner([1.0, 2.0], StepContext(epoch=0, total_epochs=2, lr=0.1))  # same epoch: not read
            with pytest.raises(SubmissionError) as caught:
                if last_check == "call":
                    runner([1.0, 2.0], StepContext(epoch=1, total_epochs=2, lr=0.1))
                else:
                    runner.check_budget("epoch 0, between calls")
        finally:
            runner.close()
        where = "forward at epoch 1" if last_check == "call" else "epoch 0, between calls"
        assert f"used more than its CPU-time budget of 1s for the job (during {where})" in str(caught.value)
