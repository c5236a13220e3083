"""The hostile corpus's machinery: an arena (a results folder with a victim record of
another job, a loopback listener, a canary path), `launch` (an attack file with its
placeholders filled, run through the runner's own job path), the assertions every attack
test makes and the backends they run through. The tests live in the `test_*` files
beside it; `conftest.py` hands them the arena. Imported only once the tests are collected:
which backends are usable is decided at import, after the private Docker engine started."""

from __future__ import annotations

import io
import os
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.api.errors import SubmissionError
from harness.api.records import JobSpec, RunRecord, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.resolve import registered_method, submission_method
from harness.oracle.backends.base import oracle_cgroup
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.backends.docker import DockerSandbox
from harness.oracle.backends.process import ProcessSandbox
from harness.run.jobs import plan, run_job
from harness.run.progress import JobProgress
from tasks.cifar100_mtl import SYNTHETIC_FOLDER, Cifar100MultiTask
from tests.docker_engine import ENGINE
from tests.helpers import REPO

HOSTILE = Path(__file__).resolve().parent / "attacks"
HARNESS_DIR = REPO / "harness"
TASK = Cifar100MultiTask()
CPU = torch.device("cpu")
CONFIG = TrainConfig(epochs=1, batch_size=64, data="synthetic", train_size=256, test_size=100)
LIMITS = OracleLimits(init_timeout_s=30, call_timeout_s=3, job_budget_s=60)

BWRAP_REASON = BwrapSandbox.available()
needs_bwrap = pytest.mark.skipif(BWRAP_REASON is not None, reason=f"bwrap unusable: {BWRAP_REASON}")
# the private engine of tests/docker_engine.py, started before collection
DOCKER_REASON = ENGINE.reason or DockerSandbox.available()
needs_docker = pytest.mark.skipif(DOCKER_REASON is not None, reason=f"docker unusable: {DOCKER_REASON}")


def pids_cap_reason() -> str | None:
    probe = oracle_cgroup(OracleLimits(processes=1))
    ok = "pids" in probe.enforced()
    probe.destroy()
    if ok or os.geteuid() != 0:
        return None
    return f"as root without a pids cgroup ({probe.describe()}) a fork bomb cannot be contained"


@dataclass
class Attack:
    record: RunRecord | None = None
    check_error: SubmissionError | None = None
    console: str = ""


def open_arena(tmp_path_factory: pytest.TempPathFactory, data_root: Path) -> Iterator[dict]:
    """A results folder holding a victim record of another job, and a loopback listener
    (the `arena` fixture of conftest.py)."""
    results = tmp_path_factory.mktemp("results")
    victim_method = registered_method("equal", TASK.loss_names)
    job = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="hostile", config=CONFIG)
    victim = run_job(
        plan(victim_method, [job])[0], TASK, CPU, data_root, results, JobProgress("victim", 1, io.StringIO())
    )
    assert victim.status == "ok"
    victim_files = {p: p.read_bytes() for p in (results / "runs").rglob("*.json")}

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    connections: list[object] = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            connections.append(conn)

    threading.Thread(target=accept, daemon=True).start()
    state = {
        "results": results,
        "data_root": data_root,
        "victim": victim,
        "victim_files": victim_files,
        "port": listener.getsockname()[1],
        "connections": connections,
        "canary": tmp_path_factory.mktemp("canary") / "forged.txt",
    }
    yield state
    listener.close()


def launch(
    arena: dict,
    name: str,
    sandbox: Sandbox,
    tmp_path: Path,
    limits: OracleLimits = LIMITS,
    check: bool = False,
    config: TrainConfig = CONFIG,
    **extra: object,
) -> Attack:
    source = (HOSTILE / f"{name}.py").read_text()
    values = {
        "__PORT__": arena["port"],
        "__DATA_TEST__": str(arena["data_root"] / SYNTHETIC_FOLDER / "cifar-100-python" / "test"),
        "__RESULTS__": str(arena["results"]),
        "__HARNESS_TRAINER__": str(HARNESS_DIR / "run" / "trainer.py"),
        "__HARNESS_FILES__": [str(HARNESS_DIR / p) for p in ("run/trainer.py", "queue/jobqueue.py", "store.py")],
        "__CANARY__": str(arena["canary"]),
        "__TRAINER_PID__": os.getpid(),
        "__SLEEP__": 0.0,
        **extra,
    }
    for key, value in values.items():
        source = source.replace(key, repr(value) if not isinstance(value, (int, float)) else str(value))
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    try:
        method = submission_method(path, "attacker", "submission", TASK.loss_names, sandbox, limits, check=check)
    except SubmissionError as exc:
        return Attack(check_error=exc)
    job = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="hostile", config=config)
    console = io.StringIO()
    record = run_job(
        plan(method, [job])[0], TASK, CPU, arena["data_root"], arena["results"], JobProgress("attacker", 1, console)
    )
    return Attack(record=record, console=console.getvalue())


def assert_survived(arena: dict) -> None:
    for path, content in arena["victim_files"].items():
        assert path.read_bytes() == content, f"victim record {path} changed"
    assert not (arena["results"] / "runs" / "forged.json").exists()
    assert not arena["canary"].exists()
    assert not Path("/root/forged.txt").exists()


def assert_no_effect(attack: Attack) -> None:
    """The attack did nothing: the run finished normally."""
    assert attack.check_error is None, attack.check_error
    assert attack.record is not None and attack.record.status == "ok", attack.record.error


def assert_failed(attack: Attack, *fragments: str) -> str:
    error = str(attack.check_error) if attack.check_error else (attack.record.error if attack.record else "")
    if attack.record is not None:
        assert attack.record.status == "failed"
    assert error and "ATTACK SUCCEEDED" not in error
    for fragment in fragments:
        assert fragment in error, error
    return error


ISOLATING = [
    pytest.param(BwrapSandbox(), marks=needs_bwrap, id="bwrap"),
    pytest.param(DockerSandbox(), marks=needs_docker, id="docker"),
]
# the process backend isolates nothing: its runs of the attacks are `slow` (the bwrap runs stay in the inner loop)
BACKENDS = [*ISOLATING, pytest.param(ProcessSandbox(), marks=pytest.mark.slow, id="process")]
# time-outs and budgets are enforced by the trainer's side, the same for every backend
DEFAULT_BACKEND = [pytest.param(BwrapSandbox() if BWRAP_REASON is None else ProcessSandbox(), id="default")]


# docker reads the CPU time from the container's cgroup, which only an engine on this host has
LOCAL_DOCKER = pytest.mark.skipif(not ENGINE.private, reason="not the tests' own engine on this host")
