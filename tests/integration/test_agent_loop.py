"""An agent's loop driven by programs only: validate -> submit -> leaderboard through --json,
then the same through the Python API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.outputs import LeaderboardOutput, RunOutput, ValidationOutput
from tests.helpers import REPO, runner

pytestmark = pytest.mark.slow  # end to end (CLI and API); quick: tests/unit/test_front_doors.py, test_json_outputs.py


def document(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout  # one JSON document; progress went to stderr
    return json.loads(lines[0])


def test_validate_submit_leaderboard_through_json_and_the_python_api(tmp_path: Path, data_root: Path) -> None:
    loss = tmp_path / "agent_loss.py"
    shutil.copy(REPO / "submissions" / "example_loss.py", loss)
    results = tmp_path / "results"
    checked = runner("validate", loss, "--epochs", "1", "--steps", "2", "--json")
    report = ValidationOutput.model_validate(document(checked.stdout))
    assert checked.returncode == 0 and report.exit_code == 0 and report.problems == []
    job_args = ("--preset", "tiny", "--tasks", "cifar100-mtl", "--results", results, "--data-root", data_root)
    ran = runner("submit", loss, "--no-baselines", *job_args, "--json")
    run = RunOutput.model_validate(document(ran.stdout))
    assert ran.returncode == 0 and run.exit_code == 0 and run.failed == 0 and run.submission == "agent_loss"
    assert "epoch" in ran.stderr  # the progress line is there, on stderr
    (job,) = run.jobs
    assert job.status == "ok" and job.best_primary is not None and Path(job.record).is_file()  # type: ignore[arg-type]
    assert json.loads(Path(job.record).read_text())["best_primary"] == job.best_primary  # type: ignore[arg-type]
    assert run.leaderboard is not None and any(c.method == "agent_loss" for c in run.leaderboard.cells)
    shown = runner("leaderboard", "--preset", "tiny", "--results", results, "--json")
    board = LeaderboardOutput.model_validate(document(shown.stdout))
    (cell,) = [c for c in board.cells if c.method == "agent_loss"]
    assert cell.values == [job.best_primary] and cell.n == 1
    # the Python API answers the same (the job is recorded: nothing trains again)
    import harness

    again = harness.submit(
        loss, preset="tiny", tasks=["cifar100-mtl"], results=results, baselines=False, device="cpu", data_root=data_root
    )
    assert [j.best_primary for j in again.jobs] == [job.best_primary] and again.exit_code == 0
    assert json.loads(again.model_dump_json()) == document(ran.stdout)  # the same answer, byte for byte
    assert harness.leaderboard(results=results, preset="tiny").cells == board.cells

    # a quick held-out screen of the same file: its own board, never the preset's
    screened = harness.submit(
        loss,
        preset="tiny",
        tasks=["cifar100-mtl"],
        results=results,
        baselines=False,
        device="cpu",
        data_root=data_root,
        epochs=1,
        heldout=True,
    )
    assert screened.exit_code == 0 and screened.protocol == "epochs=1,heldout"
    (screen_job,) = screened.jobs
    assert screen_job.status == "ok" and screen_job.record != job.record
    assert harness.leaderboard(results=results, preset="tiny").cells == board.cells
    screen_board = screened.leaderboard
    assert screen_board is not None and not screen_board.comparable_to_published
    assert [c.values for c in screen_board.cells] == [[screen_job.best_primary]]
    assert screen_board.protocols["cifar100-mtl"] == "epochs=1,heldout"
    saved = json.loads(Path(screen_job.record).read_text())  # type: ignore[arg-type]
    assert saved["job"]["protocol"]["evaluation"] == "heldout" and len(saved["epochs"]) == 1
