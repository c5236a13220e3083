"""An agent's loop driven by programs only: validate -> submit -> status -> verdict ->
leaderboard through --json, then the same through the Python API."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.outputs import LeaderboardOutput, RunOutput, StatusOutput, ValidationOutput
from tests.helpers import REPO, runner

pytestmark = pytest.mark.slow  # end to end (CLI and API); quick: tests/unit/test_front_doors.py, test_json_outputs.py


def document(stdout: str) -> dict:
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert len(lines) == 1, stdout  # one JSON document; progress went to stderr
    return json.loads(lines[0])


def _undated(document: dict) -> dict:
    """The document without when it was made (its own and its board's)."""
    board = document.get("leaderboard") and {k: v for k, v in document["leaderboard"].items() if k != "created_at"}
    return {**{k: v for k, v in document.items() if k != "created_at"}, "leaderboard": board}


def test_validate_submit_leaderboard_through_json_and_the_python_api(tmp_path: Path, data_root: Path) -> None:
    loss = tmp_path / "agent_loss.py"
    shutil.copy(REPO / "submissions" / "example_loss.py", loss)
    results = tmp_path / "results"
    checked = runner("validate", loss, "--epochs", "1", "--steps", "2", "--json")
    report = ValidationOutput.model_validate(document(checked.stdout))
    assert checked.returncode == 0 and report.exit_code == 0 and report.problems == []
    job_args = ("--preset", "tiny", "--tasks", "cifar100-mtl", "--results", results, "--data-root", data_root)
    reference = runner("baselines", "--only", "equal", *job_args, "--json")
    assert reference.returncode == 0, reference.stderr
    # submit without waiting, poll the queue, let a worker train it, then read the verdict
    queued = RunOutput.model_validate(
        document(runner("submit", loss, "--no-baselines", *job_args, "--no-wait", "--json").stdout)
    )
    assert [j.status for j in queued.jobs] == ["queued"] and queued.verdict is None and queued.leaderboard is None
    polled = StatusOutput.model_validate(document(runner("status", "--results", results, "--json").stdout))
    assert sorted((j.state, j.method) for j in polled.jobs) == [("done", "equal"), ("pending", "agent_loss")]
    worked = runner("worker", "--devices", "cpu", "--results", results, "--exit-when-idle")
    assert worked.returncode == 0 and "epoch 2/2" in worked.stdout  # the worker trained it, with its progress
    ran = runner("submit", loss, "--no-baselines", *job_args, "--json")  # recorded: answers at once
    run = RunOutput.model_validate(document(ran.stdout))
    assert ran.returncode == 0 and run.exit_code == 0 and run.failed == 0 and run.submission == "agent_loss"
    (job,) = run.jobs
    verdict = run.verdict  # the outcome in one field
    assert verdict is not None and verdict.submission == "agent_loss" and verdict.columns_compared_with_equal == 1
    (column,) = verdict.columns
    assert (column.metric.name, column.metric.unit, column.metric.higher_is_better) == ("fine_acc", "%", True)
    assert column.mean == job.best_primary and column.n == 1 and column.ranked == 2
    versus = column.comparisons[0]
    assert (versus.against, versus.method, versus.outcome) == ("equal", "equal", "not tested")  # n=1: no test
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
    assert _undated(json.loads(again.model_dump_json())) == _undated(document(ran.stdout))  # the same answer
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
