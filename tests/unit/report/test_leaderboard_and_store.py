from pathlib import Path

import pytest

from harness.api.errors import HarnessError
from harness.api.records import JobSpec, Protocol, RunRecord, TrainConfig
from harness.report.board import build_board, column_name
from harness.report.long_form import long_rows
from harness.report.markdown import render_board_markdown
from harness.report.published import import_published, load_published
from harness.report.tables import detail_table, main_table, protocol_banner
from harness.store import find_record, load_records, save_record
from tests.helpers import FIXTURES, all_tasks, run_record

TASKS = all_tasks()
# MLS-Bench's published leaderboard data (a copy of ../shared/data/published/, 9 KB)
PUBLISHED = FIXTURES / "mls-bench-cv-multitask-loss.json"
CONFIG = TrainConfig(epochs=2)


def record(
    method: str,
    arch: str,
    seed: int,
    value: float | None,
    entry_type: str = "baseline",
    preset: str = "dev",
    finished: str = "2026-01-01T00:00:00",
) -> RunRecord:
    job = JobSpec(task="cifar100-mtl", arch=arch, seed=seed, preset=preset, config=CONFIG)
    return run_record(method, job, value, "fine_acc", entry_type, finished)


def test_table_shape_mean_std_failed_and_order() -> None:
    records = [
        record("mine", "resnet20", 1, 60.0, "agent"),
        record("mine", "resnet20", 2, 62.0, "agent"),
        record("mine", "resnet56", 1, None, "agent"),
        record("dwa", "resnet20", 1, 67.96),
        record("dwa", "resnet56", 1, 72.39),
        record("dwa", "vgg16bn", 1, 73.78),  # hidden: not shown
        record("other", "resnet20", 1, 50.0, preset="smoke"),
    ]
    table = main_table(build_board(records, TASKS, "dev"))
    r20, r56 = column_name(TASKS["cifar100-mtl"], "resnet20"), column_name(TASKS["cifar100-mtl"], "resnet56")
    assert list(table.columns) == ["method", "type", r20, r56, "avg rank"]
    assert r20 == "test acc resnet20-cifar100mt ↑ (best test epoch)"  # the seed's shape, and its checkpoint rule
    assert table["method"].tolist() == ["dwa", "mine"]
    mine = table.set_index("method").loc["mine"]
    assert mine[r20] == "61.00 ± 1.41" and mine[r56] == "failed"  # no equal run: no mark
    assert table.set_index("method").loc["dwa", r20] == "67.960 (n=1)"  # fewer runs than the largest n
    assert "vgg16bn" not in " ".join(main_table(build_board(records, TASKS, "dev")).columns)
    assert "vgg16bn" in " ".join(main_table(build_board(records, TASKS, "dev", include_hidden=True)).columns)


def test_latest_record_of_a_run_wins() -> None:
    records = [
        record("mine", "resnet20", 1, 10.0, finished="2026-01-01T00:00:00"),
        record("mine", "resnet20", 1, 20.0, finished="2026-02-01T00:00:00"),
    ]
    table = main_table(build_board(records, TASKS, "dev"))
    assert table.iloc[0, 2] == "20.000"


def test_markdown_document_has_table_and_notes() -> None:
    text = render_board_markdown(build_board([record("dwa", "resnet20", 1, 67.96)], TASKS, "dev"), TASKS)
    assert "| dwa " in text and "test acc resnet20-cifar100mt ↑" in text
    assert "largest n: 1" in text and "## Reproducibility" in text
    assert "No run records" in render_board_markdown(build_board([], TASKS, "dev"), TASKS)


def test_records_round_trip_and_garbage_is_reported(tmp_path: Path) -> None:
    saved = record("dwa", "resnet20", 1, 67.96)
    path = save_record(tmp_path, saved)
    assert path.is_file() and not list(path.parent.glob("*.tmp"))
    assert find_record(tmp_path, "dev", "dwa", saved.key) == saved
    assert find_record(tmp_path, "dev", "dwa", "f" * 64) is None
    (path.parent / "broken.json").write_text('{"key": "trunc')
    (path.parent / "other.json").write_text("[]")
    loaded = load_records(tmp_path)
    assert loaded.records == [saved]
    assert len(loaded.problems) == 2 and any("broken.json" in p for p in loaded.problems)


def _board_records() -> list[RunRecord]:
    return [
        *(record("equal", "resnet20", s, v) for s, v in [(1, 60.0), (2, 60.5), (3, 59.5)]),
        *(record("equal", "resnet56", s, v) for s, v in [(1, 70.0), (2, 70.2), (3, 69.8)]),
        *(record("dwa", "resnet20", s, v) for s, v in [(1, 60.1), (2, 60.6), (3, 59.4)]),
        *(record("dwa", "resnet56", s, v) for s, v in [(1, 71.0), (2, 71.2), (3, 70.8)]),
        *(record("mine", "resnet20", s, v, "agent") for s, v in [(1, 65.0), (2, 65.5), (3, 64.5)]),
        *(record("mine", "resnet56", s, v, "agent") for s, v in [(1, 65.0), (2, 66.0)]),
    ]


def test_marks_ranks_and_differences() -> None:
    board = build_board(_board_records(), TASKS, "dev")
    table = main_table(board).set_index("method")
    r20, r56 = (column_name(TASKS["cifar100-mtl"], a) for a in ("resnet20", "resnet56"))
    assert table.loc["mine", r20] == "65.00 ± 0.50 ▲"  # +5 over equal, p < 0.05
    assert table.loc["mine", r56] == "65.50 ± 0.71 (n=2)"  # -4.5, but Welch df 1.1: p 0.07, no mark
    worse = build_board([*_board_records(), record("mine", "resnet56", 3, 65.5, "agent")], TASKS, "dev")
    assert main_table(worse).set_index("method").loc["mine", r56] == "65.50 ± 0.50 ▼"
    assert table.loc["dwa", r20] == "60.03 ± 0.60"  # +0.03: not significant, no mark
    assert table.loc["equal", r20] == "60.00 ± 0.50"
    # r20: mine 1, dwa 2, equal 3; r56: dwa 1, equal 2, mine 3
    assert table["avg rank"].to_dict() == {"dwa": "1.50", "equal": "2.50", "mine": "2.00"}
    column = board.columns[1]
    assert board.best_baseline(column).method == "dwa"
    detail = detail_table(board, column).set_index("method")
    assert detail.loc["mine", "Δ vs equal"].startswith("-4.50 (p=")
    assert detail.loc["mine", "Δ vs best baseline"].startswith(
        "dwa (chosen on test: optimistic for the baseline): -5.50 (p="
    )
    assert detail.loc["mine", "95% CI"] == "[59.15, 71.85]"  # 65.5 ± 12.706 * 0.7071 / sqrt 2
    assert detail.loc["dwa", "Δ vs best baseline"] == "—"


def test_tied_means_share_their_rank() -> None:
    records = [record("equal", "resnet20", 1, 50.0), record("a", "resnet20", 1, 50.0), record("b", "resnet20", 1, 40.0)]
    ranks = {key.method: rank for key, rank in build_board(records, TASKS, "dev").ranks().items()}
    assert ranks == {"equal": 1.5, "a": 1.5, "b": 3.0}


def test_published_rows_are_imported_marked_and_not_ranked(tmp_path: Path) -> None:
    target, published = import_published(PUBLISHED, TASKS, ["full", "final"], tmp_path)
    assert target.is_file() and not published.notes
    assert len(published.values) == 27  # 3 methods x 3 seeds x 3 architectures
    sets, problems = load_published(tmp_path)
    assert not problems and sets[0] == published
    records = [record("equal", "resnet20", s, 67.0 + s / 10, preset="full") for s in (1, 2, 3)]
    board = build_board(records, TASKS, "full", published=sets)
    table = main_table(board).set_index("method")
    r20 = column_name(TASKS["cifar100-mtl"], "resnet20")
    assert table.loc["dwa", "type"] == "baseline (published)"
    assert table.loc["dwa", r20] == "67.81 ± 0.28 ▲"  # vs the fresh equal runs: 67.2 ± 0.1
    assert table.loc["dwa", "avg rank"] == "—"
    assert "vgg16bn" not in " ".join(table.columns)
    hidden = main_table(build_board(records, TASKS, "final", include_hidden=True, published=sets))
    assert hidden.set_index("method").loc["pcgrad", column_name(TASKS["cifar100-mtl"], "vgg16bn")] == "74.26 ± 0.10"
    assert main_table(build_board(records, TASKS, "dev", published=sets)).shape[0] == 0


def test_csv_rows_carry_the_statistics() -> None:
    rows = long_rows(build_board(_board_records(), TASKS, "dev"))
    mine = next(r for r in rows if r["method"] == "mine" and r["arch"] == "resnet20")
    assert mine["n"] == 3 and mine["values"] == [65.0, 65.5, 64.5] and mine["mean"] == 65.0  # the CSV joins them
    assert mine["delta_vs_equal"] == 5.0 and mine["p_vs_equal"] < 0.05 and mine["avg_rank"] == 2.0


def test_paired_seeds_use_the_paired_test_and_say_so() -> None:
    # mine beats equal by 0.1 on every seed while the seeds move both by +-1: Welch sees two overlapping
    # clouds (p ~ 0.9), the paired test a constant-ish gain (differences 0.1, 0.12, 0.08: p ~ 0.01)
    values = {1: 60.0, 2: 61.0, 3: 59.0}
    gains = {1: 0.1, 2: 0.12, 3: 0.08}
    records = [
        *(record("equal", "resnet20", s, v) for s, v in values.items()),
        *(record("mine", "resnet20", s, v + gains[s], "agent") for s, v in values.items()),
    ]
    board = build_board(records, TASKS, "dev")
    column = board.columns[0]
    row = next(r for r in board.rows() if r.method == "mine")
    assert board.versus(row, board.reference(), column).p > 0.8  # Welch
    paired = board.paired(row, board.reference(), column)
    # differences 0.1, 0.12, 0.08: mean 0.1, sd 0.02, t = 0.1 / (0.02 / sqrt 3) = 8.66 on 2 df:
    # p = 1 - t / sqrt(2 + t^2) (the t distribution with 2 df in closed form)
    t = 0.1 / (0.02 / 3**0.5)
    assert paired.n == 3 and abs(paired.difference - 0.1) < 1e-9
    assert abs(paired.p - (1 - t / (2 + t * t) ** 0.5)) < 1e-6
    assert main_table(board).set_index("method").loc["mine", column.name].endswith("▲")
    detail = detail_table(board, column).set_index("method")
    assert detail.loc["mine", "Δ vs equal"] == "+0.10 (p=0.909)"  # Welch, unmarked: the paired test decides
    assert detail.loc["mine", "paired Δ vs equal [95% CI]"].startswith("+0.10 [0.05, 0.15] (p=0.013, n=3) ▲")
    # a missing seed breaks the pairing: the marks fall back to Welch's test, and say nothing here
    partial = build_board(records[:-1], TASKS, "dev")
    assert not main_table(partial).set_index("method").loc["mine", column.name].endswith("▲")
    assert "paired two-sided t-test" in render_board_markdown(board, TASKS)


def _under(run: RunRecord, protocol: Protocol, finished: str = "2026-02-01T00:00:00") -> RunRecord:
    job = run.job.model_copy(update={"protocol": protocol, "config": protocol.apply(run.job.config)})
    return run.model_copy(update={"job": job, "key": "s" + run.key[1:], "finished_at": finished})


def test_screening_and_heldout_runs_never_reach_the_standard_board(tmp_path: Path) -> None:
    standard = [
        record(m, "resnet20", s, v + s, preset="full") for m, v in (("equal", 60.0), ("dwa", 61.0)) for s in (1, 2)
    ]
    screen = Protocol(epochs=5, train_fraction=0.25)
    screened = [_under(record("mine", "resnet20", s, 99.0, "agent", preset="full"), screen) for s in (1, 2)]
    screened += [_under(r, screen) for r in standard]  # the same jobs, screened later: they hide nothing
    heldout = [_under(record("mine", "resnet20", 1, 98.0, "agent", preset="full"), Protocol(evaluation="heldout"))]
    import_published(PUBLISHED, TASKS, ["full"], tmp_path)
    published, _ = load_published(tmp_path)
    everything = standard + screened + heldout
    board = build_board(everything, TASKS, "full", published=published)
    rows = main_table(board).set_index("method")
    assert (
        "mine" not in rows.index
        and rows.loc["equal", column_name(TASKS["cifar100-mtl"], "resnet20")] == "61.50 ± 0.71 (n=2)"
    )
    assert "dwa" in rows.index and board.comparable_to_published and protocol_banner(board) == []
    assert board.other_protocols == ["epochs=5,train-fraction=0.25", "heldout"]
    text = render_board_markdown(board, TASKS)
    assert "other protocols (epochs=5,train-fraction=0.25, heldout)" in text and "Screening" not in text

    screening = build_board(everything, TASKS, "full", published=published, protocol=screen)
    table = main_table(screening).set_index("method")
    assert set(table.index) == {"equal", "dwa", "mine"}  # no published rows beside a screening run
    assert all(r.job.protocol == screen for r in screening.runs) and not screening.comparable_to_published
    assert {row["protocol"] for row in long_rows(screening)} == {"epochs=5,train-fraction=0.25"}
    assert "**Screening protocol (epochs=5,train-fraction=0.25): not comparable to the published table.**" in (
        render_board_markdown(screening, TASKS)
    )
    with pytest.raises(HarnessError, match="final evaluation runs its own protocol"):
        build_board(everything, TASKS, "final", protocol=screen)
    held = build_board(everything, TASKS, "full", protocol=Protocol(evaluation="heldout"))
    assert list(main_table(held)["method"]) == ["mine"]
    assert held.columns[0].name.startswith("val acc resnet20") and "Held-out protocol" in protocol_banner(held)[0]
