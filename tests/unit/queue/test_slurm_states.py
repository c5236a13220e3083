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
