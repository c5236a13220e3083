"""Hostile submissions against the sandboxed oracle, through the runner's own job path.

Each test asserts that the attack failed (the run was recorded as failed with a specific
reason, or the attack had no effect), that the runner survived (this process goes on and
runs the next job), and that another job's record in the same results folder is intact.

An attack goes straight to the job's oracle (`check=False`): the job must contain it on
its own, without the sandboxed check that `submit` runs first. The tests about that check
(an attack caught before any training) pass `check=True`.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from harness.api.sandbox import Sandbox
from harness.oracle.backends.docker import DockerSandbox
from harness.oracle.backends.process import ProcessSandbox
from tests.hostile.corpus import (
    BACKENDS,
    DEFAULT_BACKEND,
    ISOLATING,
    LIMITS,
    LOCAL_DOCKER,
    assert_failed,
    assert_no_effect,
    assert_survived,
    launch,
    needs_docker,
    pids_cap_reason,
)


@pytest.mark.parametrize("sandbox", ISOLATING)
@pytest.mark.parametrize(
    "name",
    [
        "network",
        "read_test_split",
        pytest.param("read_results", marks=pytest.mark.slow),  # quick: read_test_split, the same mounts
        pytest.param("read_passwd", marks=pytest.mark.slow),
        "patch_harness",
        "write_outside",
        pytest.param("read_harness_source", marks=pytest.mark.slow),
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
@pytest.mark.slow  # a training job per attack; quick: test_isolation_attacks_have_no_effect
def test_kill_parent_has_no_effect(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "kill_parent", sandbox, tmp_path)
    assert_no_effect(attack)  # it cannot see, let alone signal, the trainer
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
@pytest.mark.slow  # a training job per attack; quick: test_isolation_attacks_have_no_effect
def test_walking_the_graph_finds_no_model(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    assert_no_effect(launch(arena, "walk_graph", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
@pytest.mark.slow  # a training job per attack; quick: test_isolation_attacks_have_no_effect[patch_harness-bwrap]
def test_patch_harness_fails_in_every_backend(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    if sandbox.name == "process" and os.geteuid() == 0:
        pytest.skip("the process backend runs as the calling user; as root it can open harness files")
    assert_no_effect(launch(arena, "patch_harness", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_untrusted_input.py
def test_fake_metric_lines_change_nothing(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "fake_metrics", sandbox, tmp_path)
    assert_no_effect(attack)
    victim = arena["victim"]  # the same loss (a plain sum) trained in-process
    assert attack.record.best_primary == victim.best_primary < 99
    assert [e.test_metrics for e in attack.record.epochs] == [e.test_metrics for e in victim.epochs]
    assert "99.90" not in attack.console
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_cgroup.py
def test_fork_bomb_is_contained(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    reason = pids_cap_reason() if sandbox.name != "docker" else None  # docker: the engine's pids limit
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
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_cpu_budget.py
def test_infinite_loop_in_init_times_out(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    limits = LIMITS.model_copy(update={"init_timeout_s": 8})
    attack = launch(arena, "loop_init", sandbox, tmp_path, limits, check=True)
    assert attack.check_error is not None  # caught before any training
    assert_failed(attack, "time-out", "8s")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", DEFAULT_BACKEND)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_cpu_budget.py
def test_infinite_loop_in_forward_times_out(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "loop_forward", sandbox, tmp_path)
    assert_failed(attack, "time-out: forward at epoch 0 took longer than 3s")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", DEFAULT_BACKEND)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_cpu_budget.py
def test_slow_calls_hit_the_wall_time_backstop(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Sleeping uses no CPU time: the CPU budget (60s) never sees it, the backstop does."""
    limits = LIMITS.model_copy(update={"job_wall_budget_s": 1.0})
    # 4 steps of 0.4s each: 1.6s of wall time, each call well within its 3s time-out
    attack = launch(arena, "slow_calls", sandbox, tmp_path, limits, __SLEEP__=0.4)
    error = assert_failed(attack, "wall-time backstop of 1s for the job (during forward at epoch 0)")
    assert "CPU-time" not in error
    assert_survived(arena)


@pytest.mark.parametrize(
    "sandbox", [*DEFAULT_BACKEND, pytest.param(DockerSandbox(), marks=[needs_docker, LOCAL_DOCKER], id="docker")]
)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_cpu_budget.py
def test_busy_calls_exhaust_the_cpu_budget(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Computing is caught by the CPU budget long before the wall-time backstop (3600s)."""
    limits = LIMITS.model_copy(update={"job_budget_s": 1.0})
    # 4 steps of 0.4s of CPU time each: 1.6s, each call well within its 3s time-out
    attack = launch(arena, "busy_calls", sandbox, tmp_path, limits, __BUSY__=0.4)
    error = assert_failed(attack, "used more than its CPU-time budget of 1s for the job (during forward at epoch 0)")
    assert "backstop" not in error
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/oracle/test_untrusted_input.py
def test_forged_protocol_messages_fail_the_run(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    attack = launch(arena, "forge_protocol", sandbox, tmp_path)
    assert_failed(attack, "protocol violation")
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", BACKENDS)
@pytest.mark.slow  # a training job per attack; quick: tests/unit/run/test_divergence.py
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
@pytest.mark.slow  # a training job per attack; quick: the segment and views tests below, test_gradient_submissions.py
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
@pytest.mark.slow  # a training job per attack; quick: the segment and views tests above
def test_a_closed_channel_or_a_slow_call_fails_the_run(arena: dict, tmp_path: Path, name: str, reason: str) -> None:
    attack = launch(arena, name, DEFAULT_BACKEND[0].values[0], tmp_path)
    assert_failed(attack, reason)
    assert_survived(arena)
