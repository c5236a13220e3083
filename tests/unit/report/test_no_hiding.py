"""A run cannot leave the board: non-finite metrics are stored in a readable form, and a
record file that cannot be read counts as a failed run of its method in every output."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd

from harness.api.records import EpochLog, JobSpec, RunRecord, TrainConfig
from harness.python_api import leaderboard
from harness.report.board import UnreadableRun, build_board, column_name
from harness.report.files import load_board, place_unreadable, write_reports
from harness.report.long_form import long_rows
from harness.report.markdown import render_board_markdown
from harness.report.tables import main_table
from harness.store import LoadedRecords, load_records, record_path, save_record
from tests.helpers import all_tasks, run_record

TASKS = all_tasks()
R20 = column_name(TASKS["cifar100-mtl"], "resnet20")


def record(method: str, seed: int, value: float | None, entry_type: str = "submission") -> RunRecord:
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=seed, preset="dev", config=TrainConfig(epochs=2))
    return run_record(method, job, value, "fine_acc", entry_type)


def diverged(method: str, seed: int) -> RunRecord:
    """An `ok` record whose last epoch diverged: NaN and inf in every metric dict."""
    nan_epoch = EpochLog(
        epoch=1,
        lr=0.05,
        train_losses={"fine": math.nan, "coarse": math.inf},
        task_weights={"fine": 3e38, "coarse": -math.inf},
        test_metrics={"fine_acc": math.nan, "fine_loss": math.nan},
        seconds=1.0,
        images_per_second=1.0,
    )
    base = record(method, seed, 12.5)
    return base.model_copy(
        update={"epochs": [*base.epochs, nan_epoch], "final_metrics": nan_epoch.test_metrics, "best_primary": math.nan}
    )


def same(a: object, b: object) -> bool:
    """Equality where NaN equals NaN (the dumps compare field by field)."""
    return json.dumps(a, sort_keys=True, default=str) == json.dumps(b, sort_keys=True, default=str)


def test_a_record_with_nan_and_inf_metrics_reads_back_and_counts_as_failed(tmp_path: Path) -> None:
    saved = diverged("mine", 1)
    path = save_record(tmp_path, saved)
    text = path.read_text()  # JSON has no NaN: strings, where pydantic's default writes null
    assert '"fine": "NaN"' in text and '"coarse": "-Infinity"' in text and '"best_primary": "NaN"' in text
    loaded = load_records(tmp_path)
    assert loaded.problems == [] and len(loaded.records) == 1
    back = loaded.records[0]
    assert same(back.model_dump(), saved.model_dump())
    assert math.isnan(back.epochs[1].train_losses["fine"]) and back.epochs[1].task_weights["coarse"] == -math.inf
    board = build_board([*loaded.records, record("mine", 2, 60.0)], TASKS, "dev")
    assert main_table(board).set_index("method").loc["mine", R20] == "60.000 (1 failed)"


def test_records_that_stored_nan_as_null_read_back(tmp_path: Path) -> None:
    """Records written before the fix (pydantic's default: null) are readable too."""
    path = save_record(tmp_path, diverged("mine", 1))
    path.write_text(path.read_text().replace('"NaN"', "null"))
    loaded = load_records(tmp_path)
    assert loaded.problems == [] and math.isnan(loaded.records[0].final_metrics["fine_acc"])


def placed(loaded: LoadedRecords) -> list[UnreadableRun]:
    """The unreadable files of `loaded` as the dev board counts them (what load_board does)."""
    return place_unreadable(loaded.unreadable, loaded.records, TASKS, "dev")


def corrupt_seed(tmp_path: Path, method: str, seed: int) -> Path:
    """The record file of `method`'s seed, written and then broken (truncated)."""
    path = record_path(tmp_path, record(method, seed, 99.0))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text('{"schema_version": 1, "key": "trunc')
    return path


def test_a_corrupt_record_counts_as_a_failure_of_its_method(tmp_path: Path) -> None:
    for seed, value in ((1, 60.0), (2, 62.0)):
        save_record(tmp_path, record("mine", seed, value))
        save_record(tmp_path, record("equal", seed, 55.0, "baseline"))
    broken = corrupt_seed(tmp_path, "mine", 3)
    loaded = load_records(tmp_path)
    assert [u.path for u in loaded.unreadable] == [broken]
    board = build_board(loaded.records, TASKS, "dev", unreadable=placed(loaded))
    table = main_table(board).set_index("method")
    assert table.loc["mine", R20].endswith("(1 failed)") and table.loc["mine", "type"] == "submission"
    assert "failed" not in table.loc["equal", R20]
    cell = next(row for row in long_rows(board) if row["method"] == "mine")
    assert cell["failed"] == 1 and cell["n"] == 2 and cell["unreadable"] == [f"{broken}: {loaded.unreadable[0].reason}"]
    text = render_board_markdown(board, TASKS)
    assert f"unreadable: {broken}" in text and "counts as a failed run" in text


def test_a_method_whose_only_record_is_corrupt_is_on_the_board(tmp_path: Path) -> None:
    save_record(tmp_path, record("equal", 1, 55.0, "baseline"))
    broken = corrupt_seed(tmp_path, "hider", 1)
    (tmp_path / "runs" / "dev" / "hider" / "stray.json").write_text("[]")  # no column: listed, not placed
    loaded = load_records(tmp_path)
    board = build_board(loaded.records, TASKS, "dev", unreadable=placed(loaded))
    table = main_table(board).set_index("method")
    assert table.loc["hider", R20] == "failed" and table.loc["hider", "type"] == "unknown"
    assert any("stray.json" in item for item in board.unreadable()) and len(board.unreadable()) == 2
    for saved in (tmp_path / "runs" / "dev" / "equal").glob("*.json"):
        saved.unlink()
    alone = load_records(tmp_path)
    assert alone.records == []
    text = render_board_markdown(build_board([], TASKS, "dev", unreadable=placed(alone)), TASKS)
    assert "No run records" not in text and f"unreadable: {broken}" in text


def test_every_board_output_counts_the_corrupt_record(tmp_path: Path) -> None:
    save_record(tmp_path, record("mine", 1, 60.0))
    broken = corrupt_seed(tmp_path, "mine", 2)
    output = leaderboard(results=tmp_path, preset="dev")
    cell = next(c for c in output.cells if c.method == "mine")
    assert cell.failed == 1 and str(broken) in cell.unreadable[0]
    assert any(str(broken) in item for item in output.unreadable_records)
    md, csv = tmp_path / "board.md", tmp_path / "board.csv"
    write_reports(load_board(tmp_path, TASKS, "dev"), TASKS, md, None, csv)
    assert f"unreadable: {broken}" in md.read_text()
    rows = pd.read_csv(csv)
    assert rows.set_index("method").loc["mine", "failed"] == 1
    assert str(broken) in rows.set_index("method").loc["mine", "unreadable"]


def test_a_run_of_another_preset_never_hides_this_presets_run() -> None:
    """The newest run of a job is chosen among the board's own preset: a `full` run of the
    same method, column and seed finished later leaves the `dev` board's run in place."""
    from harness import registry
    from tests.unit.report.test_leaderboard_and_store import record

    tasks = {"cifar100-mtl": registry.tasks.get("cifar100-mtl")}
    dev = record("equal", "resnet20", 1, 60.0, preset="dev", finished="2026-01-01T00:00:00")
    full = record("equal", "resnet20", 1, 70.0, preset="full", finished="2026-01-02T00:00:00")
    [cell] = [row for row in long_rows(build_board([dev, full], tasks, "dev")) if row["method"] == "equal"]
    assert cell["values"] == [60.0] and cell["n"] == 1
