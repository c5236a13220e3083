"""The Adience boards of issue 18: a paper's reported means and stds (the RoR paper's rows),
and runs with changed task options (the gender-first recipe) in rows of their own."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api.errors import HarnessError
from harness.api.records import JobSpec, Protocol, RunRecord
from harness.report.board import build_board, column_name
from harness.report.long_form import long_rows
from harness.report.markdown import render_board_markdown
from harness.report.published import import_published, load_published
from harness.report.tables import detail_table, main_table
from tasks.face_age_gender import AdienceAgeGender
from tests.helpers import REPO, all_tasks, run_main, run_record

TASKS = all_tasks()
ADIENCE = AdienceAgeGender()
ROR = REPO / "tasks" / "face_age_gender" / "published" / "ror-adience.json"


def adience_record(
    method: str,
    arch: str,
    fold: int,
    value: float,
    preset: str = "full",
    finished: str = "2026-01-01T00:00:00",
    **options,
) -> RunRecord:
    config = ADIENCE.preset(preset)[0]
    config = config.model_copy(update={"options": {**config.options, "fold": fold, **options}})
    job = JobSpec(task=ADIENCE.name, arch=arch, seed=42, preset=preset, config=config, variant=f"fold {fold}")
    return run_record(method, job, value, "age_exact", finished=finished)


@pytest.fixture
def imported(tmp_path: Path) -> list:
    _, published = import_published(ROR, TASKS, ["full", "final"], tmp_path)
    assert len(published.summaries) == 7 * 2 + 4  # age exact and 1-off for all seven, gender for four
    assert published.notes == [
        "RoR-152 IMDB-WIKI, two mechanisms [paper]: architecture ror152 is not one of "
        "face-adience's; shown as a reference only"
    ]
    sets, problems = load_published(tmp_path)
    assert not problems and sets == [published]
    return sets


def test_the_ror_rows_appear_on_the_full_adience_board(imported: list) -> None:
    runs = [adience_record("equal", "resnet18", fold, 50.0 + fold) for fold in range(5)]
    board = build_board(runs, TASKS, "full", published=imported)
    ror34 = column_name(ADIENCE, "ror34")
    table = main_table(board).set_index("method")
    row = table.loc["RoR-34 IMDB-WIKI [paper]"]
    assert row["type"] == "human (published)" and row[ror34] == "66.74 ± 2.69" and row["avg rank"] == "—"
    assert table.loc["equal", column_name(ADIENCE, "resnet18")] == "52.00 ± 1.58"
    assert "RoR-152 IMDB-WIKI, two mechanisms [paper]" not in table.index  # no such backbone here
    detail = detail_table(board, next(c for c in board.columns if c.arch == "ror34")).set_index("method")
    line = detail.loc["RoR-34 IMDB-WIKI [paper]"]
    # reported std 2.69 over 5 folds: 66.74 +- t(0.975, 4) 2.776 * 2.69 / sqrt 5 = +-3.34
    assert line["n"] == "5" and line["95% CI"] == "[63.40, 70.08]"
    assert line["Δ vs equal"] == "—" and line["paired Δ vs equal [95% CI]"] == "—"  # no values: never tested
    cells = {(c["method"], c["arch"]): c for c in long_rows(board)}
    reported = cells[("RoR-34 IMDB-WIKI [paper]", "ror34")]
    assert reported["reported"] and reported["n"] == 5 and reported["values"] == [] and reported["mean"] == 66.74
    assert not cells[("equal", "resnet18")]["reported"]

    text = render_board_markdown(board, TASKS)
    assert "## Published reference results: face-adience: ror-adience.json" in text
    reference = text.split("## Published reference results")[1]
    assert "67.34 ± 3.56" in reference and "97.51 ± 0.67" in reference  # the paper's best (RoR-152)
    assert "93.24 ± 1.77" in reference and "Table IX" in reference  # gender, RoR-34 + IMDB-WIKI
    assert "never ranked" in reference and "five subject-exclusive folds" in reference


def test_import_published_reads_the_file_from_the_command_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "import-published", ROR, "--results", tmp_path)
    assert code == 0 and "imported 18 reported means ± std of 7 published systems for presets full, final" in out
    assert "ror152 is not one of face-adience's" in out
    code, out, _ = run_main(capsys, monkeypatch, "leaderboard", "--preset", "full", "--results", tmp_path)
    assert code == 0 and "| RoR-34 [paper]" in out and "60.29 ± 4.25" in out


def test_the_ror_rows_stay_off_other_boards(imported: list) -> None:
    smoke = [adience_record("equal", "resnet18", 0, 40.0, preset="smoke")]
    board = build_board(smoke, TASKS, "smoke", published=imported)
    assert "Published reference" not in render_board_markdown(board, TASKS)
    screening = [
        r.model_copy(update={"job": r.job.model_copy(update={"protocol": Protocol(epochs=3)})})
        for r in (adience_record("equal", "resnet18", fold, 50.0) for fold in range(5))
    ]
    board = build_board(screening, TASKS, "full", published=imported, protocol=Protocol(epochs=3))
    assert "RoR-34 [paper]" not in main_table(board)["method"].tolist()
    assert "Published reference" not in render_board_markdown(board, TASKS)


def test_a_bad_summaries_file_is_one_clear_error(tmp_path: Path) -> None:
    data = json.loads(ROR.read_text())
    data["rows"][0]["metrics"]["age_exact"] = "high"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match=r"bad.json: not a reported-summaries/1 file \(rows.0.metrics.age_exact"):
        import_published(bad, TASKS, ["full"], tmp_path)
    data = json.loads(ROR.read_text())
    data["task"] = "nope"
    bad.write_text(json.dumps(data))
    with pytest.raises(HarnessError, match="task 'nope' is not registered"):
        import_published(bad, TASKS, ["full"], tmp_path)


def test_runs_with_changed_task_options_get_a_row_of_their_own() -> None:
    """A later gender-first run of the same method, arch and fold never replaces the joint
    run in the method's row: it is ranked as `method [recipe=gender-first]`."""
    joint = [adience_record("mine", "resnet18", fold, 50.0 + fold) for fold in range(5)]
    later = "2026-02-01T00:00:00"
    recipe = [adience_record("mine", "resnet18", f, 40.0, finished=later, recipe="gender-first") for f in range(5)]
    table = main_table(build_board(joint + recipe, TASKS, "full")).set_index("method")
    resnet18 = column_name(ADIENCE, "resnet18")
    assert table.loc["mine", resnet18] == "52.00 ± 1.58"
    assert table.loc["mine [recipe=gender-first]", resnet18] == "40.00 ± 0.00"
    text = render_board_markdown(build_board(joint + recipe, TASKS, "full"), TASKS)
    assert "task options changed from the preset's" in text
