"""The board's verdicts: Δm% against the single-task controls, the hypervolume, the tuned
fixed weights chosen without reading the numbers they are tested on, Holm's correction over
a row's comparisons, the power line, and one verdict per entry. Every expected number here is
computed by hand (in the comments) from the records the test builds."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import pytest

from harness.api.records import JobSpec, Protocol, RunRecord, TrainConfig
from harness.api.task import Task
from harness.report.board import build_board, column_name
from harness.report.figures import tradeoff_plots
from harness.report.long_form import column_rows, long_rows, verdict_lines
from harness.report.markdown import render_board_markdown
from harness.report.stats import minimum_detectable_difference
from harness.report.tables import NONE, delta_m_name, detail_table, main_table
from harness.report.verdicts import comparisons, delta_m, frontier_hypervolume, row_hypervolume, tuned_point
from tests.helpers import REPO, all_tasks, run_record

TASKS = all_tasks()
CIFAR = TASKS["cifar100-mtl"]
FACE = TASKS["face-age-gender"]
HELDOUT = Protocol(evaluation="heldout")


def run(
    task: Task,
    method: str,
    seed: int,
    finals: dict[str, float],
    *,
    best: float | None = None,
    entry_type: str = "baseline",
    trains: tuple[str, ...] | None = None,
    weights: tuple[float, ...] | None = None,
    protocol: Protocol = Protocol(),
    arch: str | None = None,
) -> RunRecord:
    """A run whose final-epoch metrics are `finals` and whose best primary value is `best`
    (default: the final primary), with a control's role in its spec."""
    job = JobSpec(
        task=task.name, arch=arch or task.architectures[0].name, seed=seed, preset="dev", config=TrainConfig(epochs=2)
    )
    job = job.model_copy(update={"protocol": protocol})
    value = best if best is not None else finals.get(task.primary_metric, 0.0)
    made = run_record(method, job, value, task.primary_metric, entry_type)
    key = hashlib.sha256(f"{method}{task.name}{seed}{protocol.key}{job.arch}".encode()).hexdigest()
    spec = made.method.model_copy(update={"trains": trains, "loss_weights": weights})
    return made.model_copy(update={"key": key, "method": spec, "final_metrics": finals})


def face(method: str, seed: int, mae: float, gender: float, **role: object) -> RunRecord:
    return run(FACE, method, seed, {"age_mae": mae, "gender_acc": gender, "harmonic": 50.0}, **role)  # type: ignore[arg-type]


def cifar(method: str, seed: int, fine: float, coarse: float = 50.0, **role: object) -> RunRecord:
    return run(CIFAR, method, seed, {"fine_acc": fine, "coarse_acc": coarse}, **role)  # type: ignore[arg-type]


def face_board() -> list[RunRecord]:
    """Two seeds; the submission against the single-task controls of each head:
    seed 1: age MAE 5 vs 4 (worse: -(5-4)/4 = -0.25), gender 90 vs 80 (+10/80 = +0.125): Δm = -6.25
    seed 2: age MAE 3 vs 4 (better: +0.25), gender 85 vs 85 (0): Δm = +12.5"""
    return [
        face("single:age", 1, 4.0, 50.0, trains=("age",)),
        face("single:age", 2, 4.0, 50.0, trains=("age",)),
        face("single:gender", 1, 9.0, 80.0, trains=("gender",)),
        face("single:gender", 2, 9.0, 85.0, trains=("gender",)),
        face("mine", 1, 5.0, 90.0, entry_type="agent"),
        face("mine", 2, 3.0, 85.0, entry_type="agent"),
        face("equal", 1, 4.5, 82.0),
        face("equal", 2, 4.5, 82.0),
    ]


def row(board, name: str):  # type: ignore[no-untyped-def]
    return next(r for r in board.cells if r.method == name)


def test_delta_m_by_hand_with_a_lower_is_better_metric() -> None:
    board = build_board(face_board(), TASKS, "dev")
    column = board.columns[0]
    dm = delta_m(board, row(board, "mine"), column)
    assert dm is not None and dm.values == pytest.approx((-6.25, 12.5))
    assert dm.mean == pytest.approx(3.125)
    # the t-interval over the two seeds: sd = 18.75 / sqrt 2, half = t(0.975, 1) * sd / sqrt 2 = 12.7062 * 9.375
    assert dm.high - dm.mean == pytest.approx(12.7062047 * 9.375, rel=1e-6)
    # equal: age 4.5 vs 4 on both seeds: -0.125; gender 82 vs 80: +0.025, vs 85: -0.0353 -> -5, -8.015
    equal = delta_m(board, row(board, "equal"), column)
    assert equal is not None and equal.values == pytest.approx((-5.0, 100 * (-0.125 - 3 / 85) / 2))
    # the hypervolume of each seed's point (1 + each term): (0.75, 1.125) -> 0.84375; (1.25, 1.0) -> 1.25
    hv = row_hypervolume(board, row(board, "mine"), column)
    assert hv is not None and hv.values == pytest.approx((0.84375, 1.25))
    assert delta_m(board, row(board, "single:age"), column) is None  # a control has no Δm of its own


def test_the_single_task_controls_leave_the_other_heads_unscored() -> None:
    board = build_board(face_board(), TASKS, "dev")
    table = main_table(board).set_index("method")
    column = board.columns[0]
    # the face task's column is the harmonic score of both heads: neither control trains both
    assert table.loc["single:age", column.name] == NONE and table.loc["single:gender", column.name] == NONE
    assert table.loc["single:age", "avg rank"] == NONE  # controls are never ranked
    assert table.loc["mine", delta_m_name(column)].startswith("+3.12% [")
    cells = {c["method"]: c for c in long_rows(board)}
    assert (
        cells["single:age"]["unscored"] and cells["single:age"]["mean"] is None and cells["single:age"]["values"] == []
    )
    assert cells["single:age"]["control"] == "single-task"
    # cifar: the column's metric is fine accuracy, which single:fine trains and single:coarse does not
    records = [
        cifar("single:fine", 1, 70.0, 5.0, trains=("fine",)),
        cifar("single:coarse", 1, 1.0, 80.0, trains=("coarse",)),
    ]
    table = main_table(build_board(records, TASKS, "dev")).set_index("method")
    r20 = column_name(CIFAR, "resnet20")
    assert table.loc["single:fine", r20] == "70.000" and table.loc["single:coarse", r20] == NONE
    # a file claiming a control's role in its spec is no control: its cells are scored
    forged = [cifar("forger", 1, 1.0, 80.0, trains=("coarse",), entry_type="agent")]
    assert main_table(build_board(forged, TASKS, "dev")).set_index("method").loc["forger", r20] == "1.000"


def frontier(protocol: Protocol, best_share: float, seeds: tuple[int, ...] = (1, 2, 3)) -> list[RunRecord]:
    """A two-task grid (w = 0.1 ... 0.9 but 0.5, with `equal` the centre) whose fine accuracy
    peaks at w = best_share: 60 - 10 |w - best|, the same on every seed (+ seed / 10)."""
    out = []
    for tenth in (1, 2, 3, 4, 6, 7, 8, 9):
        w = tenth / 10
        name = f"fixed-weights:{w:g}-{1 - w:.1g}"
        for seed in seeds:
            value = 60.0 - 10 * abs(w - best_share) + seed / 10
            out.append(cifar(name, seed, value, weights=(2 * w, 2 * (1 - w)), protocol=protocol))
    for seed in seeds:
        out.append(cifar("equal", seed, 60.0 - 10 * abs(0.5 - best_share) + seed / 10, protocol=protocol))
    return out


def test_the_tuned_point_is_chosen_on_validation_never_on_the_test_numbers() -> None:
    # on test the grid peaks at w = 0.9; on the held-out validation split at w = 0.3
    test_runs, validation_runs = frontier(Protocol(), 0.9), frontier(HELDOUT, 0.3)
    board = build_board(test_runs + validation_runs, TASKS, "dev")
    column = board.columns[0]
    assert board.validation is not None and board.validation.heldout and not board.heldout
    tuned, chosen_on = tuned_point(board, column)
    assert (tuned.method, chosen_on) == ("fixed-weights:0.3-0.7", "validation")
    # without held-out runs the board must choose on its own test numbers, and say so
    alone = build_board(test_runs, TASKS, "dev")
    tuned, chosen_on = tuned_point(alone, alone.columns[0])
    assert (tuned.method, chosen_on) == ("fixed-weights:0.9-0.1", "test")
    assert "chosen on test: optimistic for the baseline" in render_board_markdown(alone, TASKS)
    # the held-out board itself chooses on the validation numbers it then tests, and says so
    heldout = build_board(test_runs + validation_runs, TASKS, "dev", protocol=HELDOUT)
    assert heldout.validation is None and tuned_point(heldout, heldout.columns[0]) == (
        row(heldout, "fixed-weights:0.3-0.7"),
        "validation-tested",
    )
    assert "chosen on the validation numbers tested: optimistic" in render_board_markdown(heldout, TASKS)
    # one grid point without held-out runs: the validation board cannot choose among them all
    partial = [r for r in validation_runs if r.method.name != "fixed-weights:0.9-0.1"]
    board = build_board(test_runs + partial, TASKS, "dev")
    assert tuned_point(board, board.columns[0])[1] == "test"
    # a failed held-out run of one point: the same
    failed = [r.model_copy(update={"status": "failed"}) if r.method.name == "equal" else r for r in validation_runs]
    board = build_board(test_runs + failed, TASKS, "dev")
    assert tuned_point(board, board.columns[0])[1] == "test"


def test_the_frontier_line_includes_equal_and_its_hypervolume_needs_the_controls() -> None:
    runs = frontier(Protocol(), 0.9, seeds=(1, 2))
    board = build_board(runs, TASKS, "dev")
    [columns] = column_rows(board)
    assert columns["frontier_points"][4] == "equal" and len(columns["frontier_points"]) == 9
    assert frontier_hypervolume(board, board.columns[0]) is None  # no single-task controls ran
    controls = [cifar("single:fine", s, 61.0, 10.0, trains=("fine",)) for s in (1, 2)]
    controls += [cifar("single:coarse", s, 1.0, 50.0, trains=("coarse",)) for s in (1, 2)]
    board = build_board(runs + controls, TASKS, "dev")
    # every grid point has coarse 50 = the control's (1.0) and fine below 61 + seed/10 ... the best point,
    # w = 0.9 on seed s: fine 60 + s/10 against 61: the union of boxes is the best point's box
    hv = frontier_hypervolume(board, board.columns[0])
    assert hv is not None and hv.values == pytest.approx(((60.1) / 61.0, (60.2) / 61.0))
    [plot] = tradeoff_plots(board, board.columns[0])
    assert plot.join_frontier and [label for label, _, _ in plot.frontier][3:6] == ["w=0.4", "w=0.5", "w=0.6"]
    assert plot.single_task == (61.0, 50.0)  # the controls' own heads


def test_a_familys_members_on_two_tasks_never_supersede_each_other() -> None:
    # a member's hash includes its task's losses: single:gender differs between the two face tasks
    adience = TASKS["face-adience"]
    face_run = face("single:gender", 1, 9.0, 80.0, trains=("gender",))
    later = run(adience, "single:gender", 1, {"age_exact": 1.0, "gender_acc": 70.0}, trains=("gender",))
    spec = later.method.model_copy(update={"source_sha256": "9" * 64})
    later = later.model_copy(update={"finished_at": "2026-02-01T00:00:00", "method": spec})
    board = build_board([face_run, later], TASKS, "dev")
    assert not board.superseded and {c.task.name for c in board.columns} == {"face-age-gender", "face-adience"}
    # a file's row is still one file across tasks
    file_spec = spec.model_copy(update={"name": "mine", "entry_type": "agent", "trains": None})
    mine = [face("mine", 1, 5.0, 90.0, entry_type="agent"), later.model_copy(update={"method": file_spec})]
    assert build_board(mine, TASKS, "dev").superseded == {"mine": 1}


def test_a_run_with_a_metric_that_is_not_finite_has_no_delta_m() -> None:
    records = face_board()
    records[4] = records[4].model_copy(update={"final_metrics": {**records[4].final_metrics, "age_mae": math.inf}})
    board = build_board(records, TASKS, "dev")
    assert delta_m(board, row(board, "mine"), board.columns[0]) is None  # never the Δm of its good seed
    [text] = verdict_lines(board)
    assert "no Δm: a task metric of this row is missing or not finite" in text
    # a control without seed 2: the row's Δm is over seed 1 only, and says so
    records = [r for r in face_board() if not (r.method.name == "single:age" and r.job.seed == 2)]
    board = build_board(records, TASKS, "dev")
    dm = delta_m(board, row(board, "mine"), board.columns[0])
    assert dm is not None and dm.values == pytest.approx((-6.25,)) and dm.of == 2
    assert "Δm −6.25% (n=1 of 2)" in verdict_lines(board)[0]


def test_a_submission_that_is_a_grid_point_is_not_significant() -> None:
    runs = frontier(Protocol(), 0.7)
    point = [r for r in runs if r.method.name == "fixed-weights:0.7-0.3"]
    mine = [cifar("mine", r.job.seed, r.final_metrics["fine_acc"], entry_type="agent") for r in point]
    board = build_board(runs + mine, TASKS, "dev")
    column = board.columns[0]
    tests = {t.against: t for t in comparisons(board, row(board, "mine"), column)}
    tuned = tests["tuned fixed weights"]
    assert tuned.other.method == "fixed-weights:0.7-0.3" and tuned.difference == 0 and not tuned.significant
    [text] = verdict_lines(board)
    assert "vs tuned fixed weights (fixed-weights:0.7-0.3, w=0.7, chosen on test: optimistic" in text
    assert "paired t-test, n=3, Holm p=1, not significant" in text


def test_holm_takes_the_mark_a_single_test_would_give() -> None:
    # mine - equal = 0.1 + (0.036, 0, -0.036) on seeds 1..3: t = 0.1 / (0.036 / sqrt 3) = 4.811 on 2 df,
    # p = 1 - t / sqrt(2 + t^2) = 0.0406 < 0.05: a lone test marks it
    base = {1: 60.0, 2: 61.0, 3: 59.0}
    gain = {1: 0.136, 2: 0.1, 3: 0.064}
    equal = [cifar("equal", s, v) for s, v in base.items()]
    mine = [cifar("mine", s, v + gain[s], entry_type="agent") for s, v in base.items()]
    t = 0.1 / (0.036 / math.sqrt(3))
    p = 1 - t / math.sqrt(2 + t * t)
    r20 = column_name(CIFAR, "resnet20")
    alone = build_board(equal + mine, TASKS, "dev")
    assert main_table(alone).set_index("method").loc["mine", r20].endswith("▲")
    # the best baseline is equal itself: one comparison, counted once in the correction
    tests = comparisons(alone, row(alone, "mine"), alone.columns[0])
    assert [t.against for t in tests] == ["equal", "best baseline"] and {t.other.method for t in tests} == {"equal"}
    assert all(t.p == pytest.approx(p, abs=1e-6) and t.p_holm == pytest.approx(p, abs=1e-6) for t in tests)
    # a second baseline, dwa, better than equal and far from mine (p ~ 0.9): Holm's smallest p doubles
    dwa = [cifar("dwa", s, v + 0.11 + (s - 2) * 0.5) for s, v in base.items()]
    board = build_board(equal + mine + dwa, TASKS, "dev")
    tests = {x.against: x for x in comparisons(board, row(board, "mine"), board.columns[0])}
    assert tests["best baseline"].other.method == "dwa"
    assert tests["equal"].p_holm == pytest.approx(2 * p, abs=1e-6)  # 0.081: no mark
    assert main_table(board).set_index("method").loc["mine", r20] == "60.10 ± 1.02"  # no mark
    detail = detail_table(board, board.columns[0]).set_index("method")
    assert "Holm p=0.081" in detail.loc["mine", "Holm-corrected tests"]
    assert "▲" not in detail.loc["mine", "paired Δ vs equal [95% CI]"]  # the raw p=0.041 marks nothing
    alone_detail = detail_table(alone, alone.columns[0]).set_index("method")
    assert "(p=0.041, n=3) ▲;" in alone_detail.loc["mine", "paired Δ vs equal [95% CI]"]


def test_welch_gives_its_interval_even_for_a_zero_difference() -> None:
    # unpaired (seeds 1, 2 against 3, 4): mean 60 both, variances 2 and 2: se = sqrt(2/2 + 2/2) = sqrt 2,
    # Welch df = 2, half = t(0.975, 2) sqrt 2 = 4.3027 x 1.4142
    records = [cifar("equal", 1, 59.0), cifar("equal", 2, 61.0), cifar("mine", 3, 61.0, entry_type="agent")]
    records += [cifar("mine", 4, 59.0, entry_type="agent")]
    board = build_board(records, TASKS, "dev")
    [test, _] = comparisons(board, row(board, "mine"), board.columns[0])
    assert not test.paired and test.difference == 0
    assert test.ci_high == pytest.approx(4.30265273 * math.sqrt(2), rel=1e-6) and test.ci_low == -test.ci_high


def test_the_power_line_is_the_noncentral_t_answer_for_the_pooled_paired_spread() -> None:
    base = {1: 60.0, 2: 61.0, 3: 59.0}
    records = [cifar("equal", s, v) for s, v in base.items()]
    records += [cifar("a", s, v + d) for (s, v), d in zip(base.items(), (0.1, 0.3, 0.2))]  # var of diffs 0.01
    records += [cifar("b", s, v + d) for (s, v), d in zip(base.items(), (0.0, 0.6, 0.3))]  # var 0.09
    # neither an entry, a grid point nor a control sets the bar: their spread is left out
    records += [cifar("mine", s, v + d, entry_type="agent") for (s, v), d in zip(base.items(), (0.0, 5.0, -5.0))]
    records += [cifar("fixed-weights:0.9-0.1", s, v, weights=(1.8, 0.2)) for s, v in base.items()]
    board = build_board(records, TASKS, "dev")
    [columns] = column_rows(board)
    spread = math.sqrt((0.01 + 0.09) / 2)
    assert columns["power_paired_std"] == pytest.approx(spread) and columns["power_n"] == 3
    assert columns["power_comparisons"] == 2
    assert columns["min_detectable_difference"] == pytest.approx(minimum_detectable_difference(spread, 3))
    assert "the smallest true difference a paired t-test detects" in render_board_markdown(board, TASKS)


def test_the_three_head_plugin_gets_controls_a_frontier_and_delta_m(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(REPO / "examples" / "plugin-task"))
    from mtl_bench_three_heads.task import ThreeHeads

    task = ThreeHeads()
    tasks = {**TASKS, task.name: task}

    def three(method: str, seed: int, pattern: float, side: float, mae: float, **role: object) -> RunRecord:
        finals = {"pattern_acc": pattern, "side_acc": side, "brightness_mae": mae}
        return run(task, method, seed, finals, **role)  # type: ignore[arg-type]

    records = []
    for seed in (1, 2):
        records += [
            three("single:pattern", seed, 80.0, 0.0, 9.0, trains=("pattern",)),
            three("single:side", seed, 0.0, 50.0, 9.0, trains=("side",)),
            three("single:brightness", seed, 0.0, 0.0, 0.1, trains=("brightness",)),
            three("equal", seed, 60.0, 50.0, 0.1),
            three("fixed-weights:0.17-0.17-0.67", seed, 40.0, 40.0, 0.05, weights=(0.5, 0.5, 2.0)),
            # pattern -25%, side 0, brightness MAE 0.12 vs 0.1: -20%: Δm = -15%
            three("mine", seed, 60.0, 50.0, 0.12, entry_type="agent"),
        ]
    board = build_board(records, tasks, "dev")
    column = next(c for c in board.columns if c.task.name == task.name)
    dm = delta_m(board, row(board, "mine"), column)
    assert dm is not None and dm.values == pytest.approx((-15.0, -15.0))
    # three dimensions: (0.75, 1, 0.8) -> 0.6
    assert row_hypervolume(board, row(board, "mine"), column).mean == pytest.approx(0.6)
    tuned, _ = tuned_point(board, column)
    assert tuned.method == "equal"  # pattern acc 60 beats the grid point's 40
    frontier = frontier_hypervolume(board, column)
    # equal (0.75, 1, 1) and the point (0.5, 0.8, 1.5): 0.75 + 0.6 - overlap 0.5*0.8*1 = 0.95
    assert frontier is not None and frontier.mean == pytest.approx(0.95)
    [text] = [line for line in verdict_lines(board) if task.name in line]
    assert "Δm −15.00%" in text
    # a figure per pair of the three metrics, the grid's points not joined (a projection of a surface)
    plots = tradeoff_plots(board, column)
    assert [(p.x.label, p.y.label) for p in plots] == [
        ("pattern acc (final epoch)", "side acc (final epoch)"),
        ("pattern acc (final epoch)", "brightness MAE (final epoch)"),
        ("side acc (final epoch)", "brightness MAE (final epoch)"),
    ]
    assert not any(p.join_frontier for p in plots) and plots[0].single_task == (80.0, 50.0)
    assert plots[1].y.higher_is_better is False
    assert {m.label: m.role for m in plots[0].methods} == {"equal": "reference", "mine": "submission"}


def test_verdicts_reach_the_json_document_and_the_csv(tmp_path: Path) -> None:
    from harness.commands.leaderboard import board_output
    from harness.report.tables import csv_text

    board = build_board(face_board(), TASKS, "dev")
    document = board_output(board, "dev", False, [])
    mine = next(c for c in document.cells if c.method == "mine")
    assert mine.delta_m_percent == pytest.approx(3.125) and mine.hypervolume == pytest.approx((0.84375 + 1.25) / 2)
    assert mine.verdict is not None and mine.verdict in document.verdicts
    assert document.columns[0].column == board.columns[0].name
    assert "delta_m_percent" in csv_text(board).splitlines()[0]
