"""The oracle's cgroup holds where the rlimits do not: shared memory is charged to it and
its OOM kill is reported, its processes share one CPU quota, and forks past its process
cap fail. Each test runs a real process in a real cgroup; it skips where this machine
lets no cgroup of that controller be made."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from harness.api.sandbox import OracleLimits
from harness.oracle.backends.base import oracle_cgroup, start_in_cgroup
from harness.oracle.backends.cgroup import CgroupLimits, OracleCgroup


def _cgroup(controller: str, **limits: object) -> OracleCgroup:
    cgroup = oracle_cgroup(OracleLimits(**limits))  # type: ignore[arg-type]
    if controller not in cgroup.enforced():
        cgroup.destroy()
        pytest.skip(f"no {controller} cgroup here: {cgroup.describe()}")
    return cgroup


def _run(cgroup: OracleCgroup, code: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        preexec_fn=cgroup.enter,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def test_shared_pages_are_charged_and_the_oom_kill_is_reported() -> None:
    """512 MiB of MAP_SHARED pages (invisible to RLIMIT_DATA) against a 256 MiB cgroup."""
    cgroup = _cgroup("memory", memory_mb=256)
    try:
        done = _run(
            cgroup,
            """
            import mmap
            size = 512 << 20
            hoard = mmap.mmap(-1, size, flags=mmap.MAP_SHARED)
            for offset in range(0, size, 4096):
                hoard[offset] = 1
            print("touched")
            """,
        )
        assert done.returncode == -9 and "touched" not in done.stdout
        assert cgroup.out_of_memory()
    finally:
        cgroup.destroy()
    assert cgroup.out_of_memory()  # still known once the folders are gone (the reason is read late)


def test_a_process_within_its_memory_is_not_reported_out_of_memory() -> None:
    cgroup = _cgroup("memory", memory_mb=256)
    try:
        assert _run(cgroup, "bytearray(32 << 20)").returncode == 0
        assert not cgroup.out_of_memory()
    finally:
        cgroup.destroy()


def test_forked_spinners_share_one_cpu_quota() -> None:
    """Three processes spin for 2 s of wall time under a quota of half a core: together
    they get about 1 s of CPU time, not the 2-6 s they would take unconfined."""
    cgroup = _cgroup("cpu", cpu_cores=0.5)
    try:
        started = time.monotonic()
        done = _run(
            cgroup,
            """
            import os, time
            end = time.monotonic() + 2.0
            children = [pid for pid in (os.fork() for _ in range(2)) if pid]
            while time.monotonic() < end:
                pass
            if children:
                for pid in children:
                    os.waitpid(pid, 0)
            else:
                os._exit(0)
            """,
        )
        wall = time.monotonic() - started
        used = cgroup.cpu_seconds()
        assert done.returncode == 0, done.stderr
        assert used is not None and 0.5 <= used <= 0.5 * wall * 1.25 + 0.2, (used, wall)
    finally:
        cgroup.destroy()


def test_forks_past_the_process_cap_fail() -> None:
    cgroup = _cgroup("pids", processes=4)
    try:
        done = _run(
            cgroup,
            """
            import os, time
            made = 0
            try:
                for _ in range(16):
                    if os.fork() == 0:
                        time.sleep(5)
                        os._exit(0)
                    made += 1
            except OSError:
                pass
            print(made)
            """,
        )
        assert int(done.stdout.split()[0]) < 4, done.stdout
    finally:
        cgroup.destroy()
    assert cgroup.pids() == []  # every child killed with it


def test_the_record_says_which_limits_hold_and_why_others_do_not() -> None:
    cgroup = OracleCgroup(CgroupLimits(8, 128, 1.0), version=1)
    cgroup.folders = dict.fromkeys(("pids", "cpu", "cpuacct"), Path("/nonexistent"))
    cgroup.missing = {"memory": "no memory cgroup controller is mounted"}
    assert cgroup.enforced() == ["pids", "cpu"]
    assert cgroup.describe() == "cgroup v1 (pids, cpu); rlimits only for memory: no memory cgroup controller is mounted"
    assert OracleCgroup(CgroupLimits(8, 128, 1.0)).describe() == "no cgroup"


def _oracle_folders() -> set[Path]:
    return {p for p in Path("/sys/fs/cgroup").glob("*/**/mtl-oracle-*") if p.is_dir()}


def test_a_start_that_fails_leaves_no_cgroup_behind() -> None:
    before = _oracle_folders()
    with pytest.raises(FileNotFoundError):
        start_in_cgroup(["/nonexistent/python"], OracleLimits())
    assert _oracle_folders() == before
