"""What every --json document carries (when, which harness, which commit), the one shape of
its errors, and the verdict object a program reads a submission's outcome from."""

from __future__ import annotations

import datetime
import json
import subprocess
from pathlib import Path

import pytest

from harness.outputs import ErrorOutput, Verdict
from harness.report.board import build_board
from harness.report.entry_verdict import entry_verdict
from tests.helpers import REPO, all_tasks, run_main
from tests.unit.report.test_leaderboard_and_store import record

TASKS = all_tasks()


def one_document(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def test_every_document_says_when_and_by_which_code(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.version import HARNESS_VERSION

    before = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    code, out, _ = run_main(capsys, monkeypatch, "status", "--results", tmp_path, "--json")
    document = one_document(out)
    made = datetime.datetime.fromisoformat(document["created_at"])
    assert code == 0 and before <= made <= datetime.datetime.now(datetime.UTC)
    assert document["harness_version"] == HARNESS_VERSION
    head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True, text=True)
    if head.returncode == 0:  # a checkout: its commit, marked dirty when it has changes
        assert document["git_commit"].removesuffix("+dirty") == head.stdout.strip()
    assert document["error"] is None  # a document that did its work has no error


def test_a_usage_error_document_gives_the_reason_itself(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(SystemExit) as exited:
        run_main(capsys, monkeypatch, "submit", REPO / "submissions" / "example_loss.py", "--bogus", "--json")
    document = ErrorOutput.model_validate(one_document(capsys.readouterr().out))
    assert exited.value.code == 2 and document.exit_code == 2 and document.command == "submit"
    assert document.error.kind == "usage" and document.error.message == "unrecognized arguments: --bogus"


def test_errors_have_one_shape_whatever_stopped_the_command(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "missing.py"
    code, out, _ = run_main(capsys, monkeypatch, "validate", missing, "--json")
    document = one_document(out)
    assert code == 2 and document["error"]["kind"] == "submission" and "not found" in document["error"]["message"]
    # a file that loads but cannot be called: validate's own document, with the same error field
    wrong = tmp_path / "wrong.py"
    wrong.write_text(
        "import torch\nclass MultiTaskLoss(torch.nn.Module):\n    def forward(self, losses):\n        return losses\n"
    )
    code, out, _ = run_main(capsys, monkeypatch, "validate", wrong, "--json", "--sandbox", "process")
    document = one_document(out)
    assert code == 2 and document["command"] == "validate" and "problems" in document
    assert document["error"]["kind"] == "submission" and document["error"]["message"] == document["problems"][0]


def _board(mine: dict[str, list[float]], equal: dict[str, list[float]]):
    records = [
        record(method, arch, seed, value, "baseline" if method == "equal" else "agent")
        for method, per_arch in (("equal", equal), ("mine", mine))
        for arch, values in per_arch.items()
        for seed, value in enumerate(values, 1)
    ]
    return build_board(records, TASKS, "dev")


def test_the_verdict_names_the_metric_and_states_each_comparison() -> None:
    board = _board(
        mine={"resnet20": [65.0, 66.2, 67.1], "resnet56": [70.0, 71.0, 69.9]},
        equal={"resnet20": [60.0, 61.0, 62.0], "resnet56": [70.1, 70.9, 70.0]},
    )
    verdict = Verdict.model_validate(entry_verdict(board, "mine"))
    r20, r56 = verdict.columns
    assert (r20.arch, r56.arch) == ("resnet20", "resnet56")
    assert r20.metric.model_dump() == {
        "name": "fine_acc",
        "label": "fine (100-class) accuracy",
        "unit": "%",
        "higher_is_better": True,
    }
    assert r20.mean == pytest.approx(66.1) and r20.n == 3 and r20.rank == 1.0 and r20.ranked == 2
    versus_equal, versus_best = r20.comparisons  # equal is also the best (the only) baseline: one test
    assert (versus_best.against, versus_best.method, versus_best.p_holm) == (
        "best baseline",
        "equal",
        versus_equal.p_holm,
    )
    assert versus_equal.against == "equal" and versus_equal.test == "paired t-test" and versus_equal.n == 3
    assert versus_equal.difference == pytest.approx(5.1) and versus_equal.outcome == "better"
    assert versus_equal.p_holm is not None and versus_equal.p_holm < 0.05
    assert r56.comparisons[0].outcome == "no significant difference"
    assert (verdict.better_than_equal, verdict.worse_than_equal, verdict.columns_compared_with_equal) == (1, 0, 2)
    assert verdict.summary.startswith("mine: against equal, better in 1 and worse in 0 of 2 column(s)")
    assert r56.rank == 2.0 and verdict.average_rank == pytest.approx(1.5)  # 70.30 against equal's 70.33


def test_a_worse_entry_is_worse_by_the_metric_direction() -> None:
    board = _board(mine={"resnet20": [55.0, 56.1, 57.0]}, equal={"resnet20": [60.0, 61.0, 62.0]})
    verdict = Verdict.model_validate(entry_verdict(board, "mine"))
    (column,) = verdict.columns
    assert column.comparisons[0].outcome == "worse" and column.rank == 2.0
    assert (verdict.better_than_equal, verdict.worse_than_equal) == (0, 1)


def test_a_failed_run_costs_the_column_its_tests_and_the_entry_its_rank() -> None:
    board = _board(mine={"resnet20": [65.0, None, 67.1]}, equal={"resnet20": [60.0, 61.0, 62.0]})  # type: ignore[list-item]
    verdict = Verdict.model_validate(entry_verdict(board, "mine"))
    (column,) = verdict.columns
    assert column.failed == 1 and column.comparisons == [] and column.rank is None
    assert verdict.average_rank is None and "failed runs in 1 column(s): not ranked" in verdict.summary
    assert entry_verdict(board, "nobody") is None


def test_plugins_answers_in_json_with_each_tasks_losses_and_metrics(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.outputs import PluginsOutput

    code, out, err = run_main(capsys, monkeypatch, "plugins", "--json")
    document = PluginsOutput.model_validate(one_document(out))
    assert code == 0 and document.exit_code == 0 and "| cifar100-mtl " in err  # the tables went to stderr
    cifar = next(p for p in document.plugins if p.name == "cifar100-mtl")
    assert (cifar.kind, cifar.group, cifar.loaded, cifar.error) == ("task", "mtl_bench.tasks", True, None)
    assert cifar.losses == ["fine", "coarse"] and cifar.architectures == ["resnet20", "resnet56"]  # vgg16bn hidden
    faces = next(p for p in document.plugins if p.name == "face-age-gender")
    assert faces.primary_metric is not None and (faces.primary_metric.unit, faces.primary_metric.name) == (
        "0-1",
        "harmonic",
    )
    age = faces.task_metrics[0]  # type: ignore[index]
    assert (age.name, age.unit, age.higher_is_better) == ("age_mae", "years", False)
    pcgrad = next(p for p in document.plugins if p.name == "pcgrad")
    assert pcgrad.kind == "method" and pcgrad.summary is not None and pcgrad.summary.startswith("gradient level")
    controls = next(m for m in document.family_members if (m.task, m.family) == ("cifar100-mtl", "single"))
    assert controls.members == ["single:fine", "single:coarse"] and controls.error is None


def test_a_broken_plugin_is_listed_with_its_error_and_exit_code_1(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness import registry
    from harness.outputs import PluginsOutput
    from harness.registry import Reference

    references = {**registry.methods.references(), "ghost": Reference("ghost", "no_such_module:THING", "someone")}
    monkeypatch.setattr(registry.methods, "_references", references)
    monkeypatch.setattr(registry.methods, "_loaded", {})
    code, out, _ = run_main(capsys, monkeypatch, "plugins", "--json")
    document = PluginsOutput.model_validate(one_document(out))
    ghost = next(p for p in document.plugins if p.name == "ghost")
    assert code == 1 and document.exit_code == 1 and not ghost.loaded and ghost.summary is None
    assert ghost.distribution == "someone" and "no_such_module" in (ghost.error or "")
