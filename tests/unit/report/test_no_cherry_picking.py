"""A method cannot pick its seeds: a cell with a failed run is neither tested nor ranked
(failing the bad seeds would otherwise leave them out of the mean), a job its method
failed is not run again without --force (a loss with its own randomness could be retried
until lucky), and a row is one file (a second file under the same name cannot replace
some of the first one's seeds)."""

from __future__ import annotations

from pathlib import Path

from harness.api.records import JobSpec, RunRecord, TrainConfig
from harness.methods.resolve import registered_method
from harness.queue.local import final_record
from harness.report.board import BETTER, build_board, column_name
from harness.report.markdown import notes
from harness.report.tables import main_table
from harness.run.jobs import plan
from harness.store import save_record
from tests.helpers import all_tasks, run_record

TASKS = all_tasks()
R20 = column_name(TASKS["cifar100-mtl"], "resnet20")


def record(method: str, seed: int, value: float | None, entry_type: str = "submission", **extra: str) -> RunRecord:
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=seed, preset="dev", config=TrainConfig(epochs=2))
    made = run_record(method, job, value, "fine_acc", entry_type, extra.get("finished", "2026-01-01T00:00:00"))
    if "sha256" in extra:
        made = made.model_copy(update={"method": made.method.model_copy(update={"source_sha256": extra["sha256"]})})
    if value is None:
        made = made.model_copy(update={"error": extra.get("error", "forward raised RuntimeError")})
    return made


def board_of(records: list[RunRecord]):  # type: ignore[no-untyped-def]
    return build_board(records, TASKS, "dev")


def test_failing_the_bad_seeds_wins_no_mark_and_no_rank() -> None:
    """Four seeds far above `equal` and the fifth failed: without the rule the row would
    be marked better and ranked first."""
    runs = [record("equal", seed, 50.0 + seed / 10, "baseline") for seed in range(5)]
    runs += [record("cherry", seed, 70.0 + seed / 10) for seed in range(4)] + [record("cherry", 4, None)]
    board = board_of(runs)
    table = main_table(board).set_index("method")
    assert "(1 failed)" in table.loc["cherry", R20] and BETTER not in table.loc["cherry", R20]
    assert table.loc["cherry", "avg rank"] == "—" and table.loc["equal", "avg rank"] == "1.00"
    assert any("no mark, no test and no rank" in line for line in notes(board, TASKS))


def test_the_same_runs_without_the_failure_are_marked_and_ranked() -> None:
    """The control: the rule, not the data, removed the mark and the rank above."""
    runs = [record("equal", seed, 50.0 + seed / 10, "baseline") for seed in range(5)]
    runs += [record("cherry", seed, 70.0 + seed / 10) for seed in range(4)]
    table = main_table(board_of(runs)).set_index("method")
    assert BETTER in table.loc["cherry", R20] and table.loc["cherry", "avg rank"] == "1.00"


def test_a_row_is_the_newest_file_of_its_name() -> None:
    """Three seeds of one file, then one seed of another file under the same name: the row
    shows the newer file's run alone, and a note says how many runs were left off."""
    first = [record("mine", seed, 40.0, sha256="a" * 64, finished="2026-01-01T00:00:00") for seed in range(3)]
    second = [record("mine", 2, 90.0, sha256="b" * 64, finished="2026-01-02T00:00:00")]
    board = board_of([*first, *second])
    table = main_table(board).set_index("method")
    assert table.loc["mine", R20] == "90.000"
    assert board.superseded == {"mine": 2}  # seeds 0 and 1 of the first file (its seed 2 is replaced anyway)
    assert "`mine`: 2 run(s) of an earlier file of this name left off" in " ".join(notes(board, TASKS))


def test_a_job_its_method_failed_is_final_and_a_machine_failure_is_not(tmp_path: Path) -> None:
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=0, preset="dev", config=TrainConfig(epochs=2))
    planned = plan(registered_method("equal", TASKS["cifar100-mtl"].loss_names), [job])[0]
    failed = record("equal", 0, None, "baseline", error="forward raised RuntimeError: a bad seed")
    save_record(tmp_path, failed.model_copy(update={"key": planned.key}))
    assert final_record(planned, tmp_path) is not None  # not run again without --force
    machine = failed.model_copy(update={"key": planned.key, "error": "infrastructure error after 3 attempts: OOM"})
    save_record(tmp_path, machine)
    assert final_record(planned, tmp_path) is None  # run again


def test_failing_a_whole_column_does_not_leave_a_rank_from_the_others() -> None:
    """Best on resnet20, one failed run on resnet56: the row is ranked nowhere, else its
    average rank would come from its good column alone."""
    runs = []
    for arch in ("resnet20", "resnet56"):
        runs += [run_record("equal", _job(arch, seed), 50.0, "fine_acc") for seed in range(3)]
    runs += [run_record("cherry", _job("resnet20", seed), 70.0, "fine_acc", "submission") for seed in range(3)]
    runs += [run_record("cherry", _job("resnet56", 0), None, "fine_acc", "submission")]
    table = main_table(board_of(runs)).set_index("method")
    assert table.loc["cherry", "avg rank"] == "—"


def _job(arch: str, seed: int) -> JobSpec:
    return JobSpec(task="cifar100-mtl", arch=arch, seed=seed, preset="dev", config=TrainConfig(epochs=2))
