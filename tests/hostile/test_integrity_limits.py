"""The red team's resource attacks, through bwrap and docker: memory the data rlimit does
not count (shared mappings, tmpfs), the host's disk through the mounted folders, and CPU
burnt by forked children between calls. Each attack fails (or has no effect), the trainer
goes on, and the other job's record is intact."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api.sandbox import Sandbox
from harness.oracle.backends.docker import DockerSandbox
from tests.hostile.corpus import (
    CONFIG,
    DEFAULT_BACKEND,
    ISOLATING,
    LIMITS,
    LOCAL_DOCKER,
    assert_failed,
    assert_no_effect,
    assert_survived,
    launch,
    needs_docker,
)


def _memory_reason(sandbox: Sandbox, limit_mb: int) -> str:
    if sandbox.name == "docker":
        return f"killed at the container's memory limit of {limit_mb} MiB (out of memory)"
    return f"was killed at its memory limit of {limit_mb} MiB (out of memory)"


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_shared_memory_past_the_limit_kills_the_oracle_alone(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """1.5 GiB of MAP_SHARED pages against a 768 MiB limit: RLIMIT_DATA does not see them,
    the oracle's memory cgroup does, and its OOM kill takes the oracle, not the trainer."""
    limits = LIMITS.model_copy(update={"memory_mb": 768})
    attack = launch(arena, "shm_hog", sandbox, tmp_path, limits, __MB__=1536)
    assert_failed(attack, _memory_reason(sandbox, 768))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_the_private_tmpfs_mounts_are_sized(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """256 MiB written to /tmp and to /dev/shm: each stops at its size (tmpfs_mb)."""
    assert LIMITS.tmpfs_mb == 64
    attack = launch(arena, "tmp_fill", sandbox, tmp_path, __MB__=256, __ALLOWED__=LIMITS.tmpfs_mb)
    assert_no_effect(attack)
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_tmpfs_pages_count_against_the_memory_limit(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """A /tmp sized past the memory limit: what lands in it is charged to the oracle's
    memory cgroup, so no more than the limit ever lands (the writes fail or the oracle is
    killed), whatever the mount's size."""
    limits = LIMITS.model_copy(update={"memory_mb": 768, "tmpfs_mb": 4096})
    attack = launch(arena, "tmp_fill", sandbox, tmp_path, limits, __MB__=1536, __ALLOWED__=768)
    if attack.record is not None and attack.record.status == "failed":
        assert_failed(attack, _memory_reason(sandbox, 768))
    else:
        assert_no_effect(attack)
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_no_host_folder_is_writable(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """The socket folder, the submission's and the guest package's are read-only binds:
    no file and no symlink lands on the host's disk."""
    assert_no_effect(launch(arena, "host_write", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_no_user_namespace_can_be_made_inside(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Inside a user namespace of its own the oracle would hold every capability and could
    mount a cgroup file system to lift its limits: unshare(CLONE_NEWUSER) must fail."""
    assert_no_effect(launch(arena, "userns_escape", sandbox, tmp_path))
    assert_survived(arena)


@pytest.mark.parametrize(
    "sandbox", [*DEFAULT_BACKEND, pytest.param(DockerSandbox(), marks=[needs_docker, LOCAL_DOCKER], id="docker")]
)
def test_children_spinning_between_calls_exhaust_the_cpu_budget(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Four forked children spin while every call returns at once: the CPU time counts
    them (the cgroup's, between calls too) and the job fails on its budget within the run,
    instead of ending `ok` at a fraction of its speed."""
    limits = LIMITS.model_copy(update={"job_budget_s": 0.5})
    config = CONFIG.model_copy(update={"epochs": 3})
    attack = launch(arena, "cpu_spinners", sandbox, tmp_path, limits, config=config, __SPINNERS__=4)
    assert_failed(attack, "used more than its CPU-time budget of 0.5s for the job")
    assert attack.record is not None and len(attack.record.epochs) < 3
    assert_survived(arena)
