"""Reading Slurm's states of array tasks (each bundle is one task of a job array)."""

from __future__ import annotations

import pytest

from harness.queue.slurm import _array_task_state


@pytest.mark.parametrize(
    ("job", "rows", "state"),
    [
        ("4_2", [("4_0", "COMPLETED"), ("4_[2-3]", "CANCELLED")], "CANCELLED"),
        ("4_7", [("4_[2-3,7%256]", "PENDING")], "PENDING"),
        ("4_5", [("4_[2-3,7%256]", "PENDING")], None),
        ("1_0", [("1", "CANCELLED")], "CANCELLED"),  # no task of the array ever started
        ("12_0", [("1_[0-3]", "PENDING")], None),  # another array
    ],
)
def test_an_array_task_that_never_started_is_read_from_its_array_row(
    job: str, rows: list[tuple[str, str]], state: str | None
) -> None:
    assert _array_task_state(job, rows) == state


@pytest.mark.parametrize(
    ("env", "name"),
    [
        ({"SLURM_JOB_ID": "130", "SLURM_ARRAY_JOB_ID": "123", "SLURM_ARRAY_TASK_ID": "4"}, "123_4"),
        ({"SLURM_JOB_ID": "130"}, "130"),
        ({}, None),
    ],
)
def test_a_worker_names_its_slurm_job_as_status_does(
    env: dict[str, str], name: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.queue.worker import slurm_job_name

    for variable in ("SLURM_JOB_ID", "SLURM_ARRAY_JOB_ID", "SLURM_ARRAY_TASK_ID"):
        monkeypatch.delenv(variable, raising=False)
    for variable, value in env.items():
        monkeypatch.setenv(variable, value)
    assert slurm_job_name() == name
