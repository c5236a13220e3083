"""Hostile submissions against the sandboxed oracle, through the runner's own job path.

Each test asserts that the attack failed (the run was recorded as failed with a specific
reason, or the attack had no effect), that the runner survived (this process goes on and
runs the next job), and that another job's record in the same results folder is intact.

An attack goes straight to the job's oracle (`check=False`): the job must contain it on
its own, without the sandboxed check that `submit` runs first. The tests about that check
(an attack caught before any training) pass `check=True`.
"""

from __future__ import annotations

import io
import os
import socket
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch

from harness.api.errors import SubmissionError
from harness.api.records import JobSpec, RunRecord, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.resolve import registered_method, submission_method
from harness.oracle.backends.bwrap import BwrapSandbox
from harness.oracle.backends.cgroup import PidsCgroup
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


def _pids_cap_reason() -> str | None:
    probe = PidsCgroup(1)
    ok = probe.path is not None
    probe.destroy()
    if ok or os.geteuid() != 0:
        return None
    return f"as root without a pids cgroup ({probe.reason}) a fork bomb cannot be contained"


@dataclass
class Attack:
    record: RunRecord | None = None
    check_error: SubmissionError | None = None
    console: str = ""


@pytest.fixture(scope="module")
def arena(tmp_path_factory: pytest.TempPathFactory, data_root: Path):
    """A results folder holding a victim record of another job, and a loopback listener."""
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
    job = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="hostile", config=CONFIG)
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
BACKENDS = [*ISOLATING, pytest.param(ProcessSandbox(), id="process")]
# time-outs and budgets are enforced by the trainer's side, the same for every backend
DEFAULT_BACKEND = [pytest.param(BwrapSandbox() if BWRAP_REASON is None else ProcessSandbox(), id="default")]


@pytest.mark.parametrize("sandbox", ISOLATING)
@pytest.mark.parametrize(
    "name",
    [
        "network",
        "read_test_split",
        "read_results",
        "read_passwd",
        "patch_harness",
        "write_outside",
        "read_harness_source",
    ],
)
def test_isolation_attacks_have_no_effect(arena: dict, tmp_path: Path, name: str, sandbox: Sandbox) -> None:
    attack = launch(arena, name, sandbox, tmp_path)
    assert_no_effect(attack)
    assert not arena["connections"], "the submission reached the host's loopback"
    assert_survived(arena)


def test_reading_the_harness_source_is_caught_where_nothing_isolates(arena: dict, tmp_path: Path) -> None:
    """Control for `read_harness_source`: without isolation the attack finds the code, so
    its passing in bwrap means the sandbox hides it, not that the attack is blind."""
    attack = launch(arena, "read_harness_source", ProcessSandbox(), tmp_path, check=True)
    assert attack.check_error is not None  # the probe's first call already finds it
    assert "ATTACK SUCCEEDED" in str(attack.check_error) and "trainer.py" in str(attack.check_error)
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_kill_parent_has_no_effect(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "kill_parent", sandbox, tmp_path)
    assert_no_effect(attack)  # it cannot see, let alone signal, the trainer
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_walking_the_graph_finds_no_model(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    assert_no_effect(launch(arena, "walk_graph", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_patch_harness_fails_in_every_backend(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    if sandbox.name == "process" and os.geteuid() == 0:
        pytest.skip("the process backend runs as the calling user; as root it can open harness files")
    assert_no_effect(launch(arena, "patch_harness", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_fake_metric_lines_change_nothing(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "fake_metrics", sandbox, tmp_path)
    assert_no_effect(attack)
    victim = arena["victim"]  # the same loss (a plain sum) trained in-process
    assert attack.record.best_primary == victim.best_primary < 99
    assert [e.test_metrics for e in attack.record.epochs] == [e.test_metrics for e in victim.epochs]
    assert "99.90" not in attack.console
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_fork_bomb_is_contained(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    reason = _pids_cap_reason() if sandbox.name != "docker" else None  # docker: the engine's pids limit
    if reason:
        pytest.skip(reason)
    limits = LIMITS.model_copy(update={"init_timeout_s": 8})
    attack = launch(arena, "fork_bomb", sandbox, tmp_path, limits)
    assert_failed(attack, "time-out")  # the probe call never returns; the pids cap holds
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_50_gb_allocation_fails(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "big_alloc", sandbox, tmp_path)
    error = assert_failed(attack)
    assert "memory" in error.lower() or "alloc" in error.lower()
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_memory_past_the_limit_fails_with_an_out_of_memory_reason(
    arena: dict, tmp_path: Path, sandbox: Sandbox
) -> None:
    """2 GiB touched against a 1 GiB limit: RLIMIT_DATA refuses the allocation (bwrap,
    process); the engine's cgroup kills the container, and the reason says so (docker)."""
    limits = LIMITS.model_copy(update={"memory_mb": 1024})
    attack = launch(arena, "memory_hog", sandbox, tmp_path, limits, __CHUNKS__=16)
    error = assert_failed(attack)
    if sandbox.name == "docker":
        assert "killed at the container's memory limit of 1024 MiB (out of memory)" in error, error
    else:
        assert "can't allocate memory" in error or "Cannot allocate memory" in error, error
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", DEFAULT_BACKEND)
def test_infinite_loop_in_init_times_out(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    limits = LIMITS.model_copy(update={"init_timeout_s": 8})
    attack = launch(arena, "loop_init", sandbox, tmp_path, limits, check=True)
    assert attack.check_error is not None  # caught before any training
    assert_failed(attack, "time-out", "8s")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", DEFAULT_BACKEND)
def test_infinite_loop_in_forward_times_out(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "loop_forward", sandbox, tmp_path)
    assert_failed(attack, "time-out: forward at epoch 0 took longer than 3s")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", DEFAULT_BACKEND)
def test_slow_calls_hit_the_wall_time_backstop(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Sleeping uses no CPU time: the CPU budget (60s) never sees it, the backstop does."""
    limits = LIMITS.model_copy(update={"job_wall_budget_s": 1.0})
    # 4 steps of 0.4s each: 1.6s of wall time, each call well within its 3s time-out
    attack = launch(arena, "slow_calls", sandbox, tmp_path, limits, __SLEEP__=0.4)
    error = assert_failed(attack, "wall-time backstop of 1s for the job (during forward at epoch 0)")
    assert "CPU-time" not in error
    assert_survived(arena)


# docker reads the CPU time from the container's cgroup, which only an engine on this host has
LOCAL_DOCKER = pytest.mark.skipif(not ENGINE.private, reason="not the tests' own engine on this host")


@pytest.mark.parametrize(
    "sandbox", [*DEFAULT_BACKEND, pytest.param(DockerSandbox(), marks=[needs_docker, LOCAL_DOCKER], id="docker")]
)
def test_busy_calls_exhaust_the_cpu_budget(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Computing is caught by the CPU budget long before the wall-time backstop (3600s)."""
    limits = LIMITS.model_copy(update={"job_budget_s": 1.0})
    # 4 steps of 0.4s of CPU time each: 1.6s, each call well within its 3s time-out
    attack = launch(arena, "busy_calls", sandbox, tmp_path, limits, __BUSY__=0.4)
    error = assert_failed(attack, "used more than its CPU-time budget of 1s for the job (during forward at epoch 0)")
    assert "backstop" not in error
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_forged_protocol_messages_fail_the_run(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "forge_protocol", sandbox, tmp_path)
    assert_failed(attack, "protocol violation")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_nan_mid_run_is_recorded(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "nan_later", sandbox, tmp_path)
    assert_failed(attack, "forward returned nan at epoch 0")
    assert attack.record.environment.sandbox == sandbox.name
    assert attack.record.environment.sandbox_limits["call_timeout_s"] == 3
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_import_error_is_reported_before_training(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "import_error", sandbox, tmp_path, check=True)
    assert attack.check_error is not None  # caught before any training
    assert_failed(attack, "ImportError: this submission needs a package that does not exist")
    assert_survived(arena)


# -- gradient-level submissions: the shared-memory channel ---------------------------------
@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("nan", "the answer in the shared segment is not finite"),
        ("inf", "the answer in the shared segment is not finite"),
        ("huge", "exceeds 100 times the sum of the task gradients' norms"),
        ("wrong_shape", "protocol violation"),
        ("coef_nan", "a coefficient is nan"),
        ("coef_huge", "exceeds the bound"),
    ],
)
def test_bad_gradient_answers_fail_the_run(arena: dict, tmp_path: Path, kind: str, reason: str) -> None:
    """The guest's own checks are switched off by the attack: the trainer's decide."""
    attack = launch(arena, "grad_bad_answer", DEFAULT_BACKEND[0].values[0], tmp_path, __KIND__=kind)
    assert_failed(attack, reason)
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_the_segment_cannot_be_resized_and_writing_past_it_fails_the_oracle(
    arena: dict, tmp_path: Path, sandbox: Sandbox
) -> None:
    attack = launch(arena, "grad_write_past_segment", sandbox, tmp_path)
    error = assert_failed(attack, "the loss oracle")  # it crashed, alone
    assert "resized" not in error and "NO MEMFD" not in error  # it found the segment, and the seals held
    assert_survived(arena)


def test_views_kept_and_written_after_answering_never_reach_a_parameter(arena: dict, tmp_path: Path) -> None:
    """The answer is copied out before it is checked: NaN written afterwards is either
    caught in the copy (a clear failure), read back by the attack's own combine (the
    guest's check fails it), or too late to matter; never trained on."""
    attack = launch(arena, "grad_keep_reference", DEFAULT_BACKEND[0].values[0], tmp_path)
    assert attack.record is not None
    if attack.record.status == "failed":  # caught in the trainer's copy, or by the guest's own check
        error = assert_failed(attack)
        assert "not finite" in error or "non-finite" in error, error
    else:
        assert all(torch.isfinite(torch.tensor(list(e.train_losses.values()))).all() for e in attack.record.epochs)
    assert_survived(arena)


@pytest.mark.parametrize(
    ("name", "reason"),
    [("grad_close_segment", "the loss oracle"), ("grad_slow", "time-out: combine at epoch 0 took longer than 3s")],
)
def test_a_closed_channel_or_a_slow_call_fails_the_run(arena: dict, tmp_path: Path, name: str, reason: str) -> None:
    attack = launch(arena, name, DEFAULT_BACKEND[0].values[0], tmp_path)
    assert_failed(attack, reason)
    assert_survived(arena)
