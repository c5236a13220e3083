"""No hiding: a loss that blows the model up at its last step (a weight of 3e38, finite in
float32) must end as a `failed` record with the reason, readable, and the board built from
the results must count it as a failure of its method, not leave it out."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.api.records import JobSpec
from harness.api.sandbox import Sandbox
from harness.report.board import build_board
from harness.report.long_form import long_rows
from harness.store import load_records
from tests.hostile.corpus import BACKENDS, CONFIG, TASK, assert_failed, assert_survived, launch

pytestmark = pytest.mark.slow  # trains through every backend; quick: tests/unit/report/test_no_hiding.py

LAST_STEP = -(-(CONFIG.train_size or 0) // CONFIG.batch_size) * CONFIG.epochs
BOARD_PRESET = "tiny"  # a preset the task knows: the arena's own ("hostile") has no board


@pytest.mark.parametrize("sandbox", BACKENDS)
def test_blowing_up_at_the_last_step_fails_the_run_and_stays_on_the_board(
    arena: dict, tmp_path: Path, sandbox: Sandbox
) -> None:
    attack = launch(arena, "blow_up_late", sandbox, tmp_path, __LAST_STEP__=LAST_STEP)
    error = assert_failed(attack, f"d total / d loss 0 is 3e+38 at epoch {CONFIG.epochs - 1}, beyond the bound")
    assert attack.record is not None and "\n" not in error
    assert_survived(arena)
    loaded = load_records(arena["results"])
    assert loaded.problems == []
    [stored] = [r for r in loaded.records if r.key == attack.record.key]
    assert stored.status == "failed" and stored.error == error
    # the same record under a preset that has a board: the attacker's cell counts one failure
    job = JobSpec(**{**stored.job.model_dump(), "preset": BOARD_PRESET})
    shown = [stored.model_copy(update={"job": job})]
    board = build_board(shown, {TASK.name: TASK}, BOARD_PRESET)
    [cell] = [row for row in long_rows(board) if row["method"] == "attacker"]
    assert cell["failed"] == 1 and cell["n"] == 0
