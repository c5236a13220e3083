"""--json: one document on stdout that the committed schema describes; everything else on stderr."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.outputs import (
    COMMAND_OUTPUTS,
    SCHEMA_VERSION,
    LeaderboardOutput,
    StatusOutput,
    ValidationOutput,
    schema_text,
)
from harness.store import save_record
from tests.helpers import REPO, run_main
from tests.unit.report.test_leaderboard_and_store import record

SCHEMAS = REPO / "docs" / "schema"


def test_the_committed_schemas_are_the_models() -> None:
    """Regenerate with `python -m harness.outputs docs/schema` when a model changes."""
    for name, model in COMMAND_OUTPUTS.items():
        path = SCHEMAS / f"{name}.v{SCHEMA_VERSION}.json"
        assert path.read_text() == schema_text(model), f"{path} is stale"


def one_document(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out  # exactly one JSON document, nothing else on stdout
    return json.loads(lines[0])


def test_leaderboard_and_status_answer_in_json(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed, value in ((1, 60.0), (2, 61.0)):
        save_record(tmp_path, record("equal", "resnet20", seed, value))
        save_record(tmp_path, record("mine", "resnet20", seed, value + 1.0, "agent"))
    code, out, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", "dev", "--results", tmp_path, "--json")
    board = LeaderboardOutput.model_validate(one_document(out))
    assert code == 0 and board.exit_code == 0 and board.preset == "dev"
    mine = next(c for c in board.cells if c.method == "mine")
    assert mine.values == [61.0, 62.0] and mine.paired_delta_vs_equal == pytest.approx(1.0)
    assert mine.marks_use_paired_test_vs_equal and "| mine" in err  # the human board went to stderr
    code, out, _ = run_main(capsys, monkeypatch, "status", "--results", tmp_path, "--json")
    status = StatusOutput.model_validate(one_document(out))
    assert code == 0 and status.jobs == [] and status.counts["pending"] == 0
    # a queued screening job says its protocol (in the table too: the column appears for it)
    queued = ("--preset", "tiny", "--tasks", "cifar100-mtl", "--results", tmp_path, "--data-root", tmp_path / "data")
    code, _, _ = run_main(
        capsys, monkeypatch, "baselines", "--only", "equal", *queued, "--no-wait", "--device", "cpu", "--epochs", "1"
    )
    assert code == 0
    code, out, err = run_main(capsys, monkeypatch, "status", "--results", tmp_path, "--json")
    (job,) = StatusOutput.model_validate(one_document(out)).jobs
    assert (job.state, job.method, job.protocol, job.epochs) == ("pending", "equal", "epochs=1", 1)
    assert "| protocol " in err and "epochs=1" in err


def test_validate_answers_in_json_and_errors_are_documents(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = REPO / "submissions" / "example_loss.py"
    code, out, err = run_main(capsys, monkeypatch, "validate", path, "--epochs", "2", "--steps", "3", "--json")
    report = ValidationOutput.model_validate(one_document(out))
    assert code == 0 and report.format == "loss" and report.calls == 6 and len(report.epochs) == 2
    assert report.epochs[0].weights is not None and set(report.epochs[0].weights) == {"fine", "coarse"}
    assert "validated" in err
    broken = tmp_path / "broken.py"
    broken.write_text("class MultiTaskLoss(:\n")
    code, out, _ = run_main(capsys, monkeypatch, "validate", broken, "--json")
    document = one_document(out)
    assert code == 2 and document["exit_code"] == 2 and document["command"] == "validate"
    assert document["error"]["kind"] == "submission" and "syntax" in document["error"]["message"].lower()


def test_the_python_api_returns_what_the_cli_prints(tmp_path: Path) -> None:
    import harness

    for seed, value in ((1, 60.0), (2, 61.0)):
        save_record(tmp_path, record("equal", "resnet20", seed, value))
    board = harness.leaderboard(results=tmp_path, preset="dev")
    frame = board.frame()
    assert list(frame["method"]) == ["equal"] and frame["mean"].iloc[0] == pytest.approx(60.5)
    report = harness.validate(REPO / "submissions" / "example_loss.py", epochs=1, steps=2)
    assert report.exit_code == 0 and report.calls == 2 and report.problems == []
    with pytest.raises(AttributeError):
        harness.nothing_here  # noqa: B018
