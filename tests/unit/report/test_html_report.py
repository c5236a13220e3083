"""The HTML report's readability (issue 33): the leaderboard's rows by rank with the
submission highlighted, failed cells with their reasons, the forest plot of each row's
difference to `equal`, and the per-epoch figures (integer epoch ticks, labels with unit and
direction, distinct line styles, the spread over seeds)."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from types import SimpleNamespace

import pytest

from harness.api.records import EpochLog, JobSpec, RunRecord, TrainConfig
from harness.report.board import Board, RowKey, build_board
from harness.report.curves import DPI, Panel, metric_label, panel_figure, panels
from harness.report.html import failure_reasons, forest_figure, render_html, row_order
from harness.report.markdown import rendered_line
from tasks.cifar100_mtl import Cifar100MultiTask
from tasks.face_age_gender import FaceAgeGender
from tests.helpers import all_tasks, run_record

TASKS = all_tasks()
CIFAR = Cifar100MultiTask()
REASON = "loss returned NaN at epoch 2: ValueError('weights must be finite')"


def _run(
    method: str,
    arch: str,
    seed: int,
    value: float | None,
    kind: str = "baseline",
    curve: tuple[float, ...] = (40.0,),
    error: str = REASON,
) -> RunRecord:
    """A cifar run whose fine accuracy per epoch is `curve` then `value` (None: failed with `error`)."""
    job = JobSpec(task="cifar100-mtl", arch=arch, seed=seed, preset="dev", config=TrainConfig(epochs=len(curve) + 1))
    made = run_record(method, job, value, "fine_acc", kind)
    key = f"{method}-{arch}-{seed}".ljust(64, "0")
    if value is None:
        return made.model_copy(update={"error": error, "key": key})
    values = [*curve, value]
    epochs = [
        EpochLog(
            epoch=i,
            lr=0.1,
            train_losses={"fine": 1.0, "coarse": 0.5},
            task_weights={"fine": 1.0, "coarse": 1.0 - 0.1 * i},
            test_metrics={"fine_acc": v, "coarse_acc": v + 10},
            seconds=1.0,
            images_per_second=1.0,
        )
        for i, v in enumerate(values)
    ]
    finals = {"fine_acc": value, "coarse_acc": value + 10}
    return made.model_copy(update={"epochs": epochs, "final_metrics": finals, "key": key})


def _board() -> Board:
    """equal and dwa identical; `zeta` (agent) best; `sub` (submission) second, tied with
    nothing; `late` (submission) and `also` (agent) each with a failed run: unranked."""
    runs = []
    for seed in (1, 2, 3):
        for arch, base in (("resnet20", 50.0), ("resnet56", 60.0)):
            value = base + seed / 5
            runs.append(_run("equal", arch, seed, value, curve=(30 + seed,)))
            runs.append(_run("dwa", arch, seed, value, curve=(30 + seed,)))
            runs.append(_run("uncertainty", arch, seed, value - 2 - seed / 10))
            runs.append(_run("zeta", arch, seed, value + 3 + seed / 10, "agent"))
            runs.append(_run("sub", arch, seed, value + 1 + seed / 10, "submission"))
            runs.append(_run("also", arch, seed, value + 5, "agent"))
            failed = arch == "resnet56" and seed == 2
            runs.append(_run("late", arch, seed, None if failed else value + 9, "submission"))
    runs.append(_run("also", "resnet56", 4, None, "agent", error="oracle exceeded its CPU budget"))
    return build_board(runs, TASKS, "dev")


class _Tables(HTMLParser):
    """Every <table>: its class and its body rows as (tr class, [cell texts])."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[tuple[str, list[tuple[str, list[str]]]]] = []
        self._row: tuple[str, list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = dict(attrs)
        if tag == "table":
            self.tables.append((named.get("class") or "", []))
        elif tag == "tr" and self.tables:
            self._row = (named.get("class") or "", [])
        elif tag == "td" and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "td" and self._row is not None and self._cell is not None:
            self._row[1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None:
            if self._row[1]:
                self.tables[-1][1].append(self._row)
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(html: str) -> list[tuple[str, list[tuple[str, list[str]]]]]:
    parser = _Tables()
    parser.feed(html)
    return parser.tables


@pytest.fixture(scope="module")
def board() -> Board:
    return _board()


@pytest.fixture(scope="module")
def page(board: Board) -> str:
    return render_html(board, TASKS, rendered_line(board))


class _Undescribed(FaceAgeGender):
    """The face task as if it described none of its metrics: labels come from its task
    metrics, its primary metric and the keys."""

    metric_descriptions = ()


class _Described(Cifar100MultiTask):
    metric_descriptions = (
        SimpleNamespace(metric="age_rmse", label="age RMSE", unit="years", higher_is_better=False),
        SimpleNamespace(metric="fine_acc", label="fine accuracy", unit="%", higher_is_better=True),
    )


def test_metric_labels_name_the_unit_and_the_direction() -> None:
    face = _Undescribed()
    assert metric_label(face, "age_rmse") == "age RMSE ↓"  # not a task metric: from the key, an error
    assert metric_label(face, "age_mae") == "age MAE ↓"  # the task metric's label and direction
    assert metric_label(face, "harmonic") == "harmonic ↑"  # the primary metric's direction, no unit
    assert metric_label(face, "gender_f1") == "gender F1 ↑"
    assert metric_label(face, "gender_acc") == "gender acc (%) ↑"
    assert metric_label(face, "age_1off") == "age 1-off acc (%) ↑"
    assert metric_label(face, "train_loss") == "train loss ↓"


def test_a_metric_the_task_describes_is_labelled_as_described() -> None:
    assert metric_label(_Described(), "age_rmse") == "age RMSE (years) ↓"
    assert metric_label(_Described(), "fine_acc") == "fine accuracy (%) ↑"
    assert metric_label(_Described(), "coarse_acc") == "coarse acc (%) ↑"  # not described: its task metric


def test_rows_by_rank_the_submission_first_among_the_unranked(board: Board, page: str) -> None:
    ranks = board.ranks()
    order = row_order(board)
    ranked = [row for row in order if ranks.get(row) is not None]
    assert [ranks[r] for r in ranked] == sorted(ranks[r] for r in ranked)  # type: ignore[type-var]
    assert [r.method for r in order] == ["zeta", "sub", "dwa", "equal", "uncertainty", "late", "also"]
    leaderboard = next(rows for cls, rows in _tables(page) if cls == "leaderboard")
    shown = [cells[0].lstrip("★ ").strip() for _, cells in leaderboard]
    assert shown == [r.method for r in order]


def test_ties_put_the_submission_first() -> None:
    runs = [
        _run(method, arch, seed, 50.0 + seed, kind)
        for method, kind in (("equal", "baseline"), ("mine", "submission"), ("aaa", "agent"))
        for arch in ("resnet20",)
        for seed in (1, 2)
    ]
    board = build_board(runs, TASKS, "dev")
    assert [r.method for r in row_order(board)] == ["mine", "aaa", "equal"]  # all tied at rank 2


def test_the_submission_row_is_highlighted_with_a_marker(page: str) -> None:
    for cls, rows in _tables(page):
        if cls not in ("leaderboard", "details"):
            continue
        for row_class, cells in rows:
            method = cells[0].lstrip("★ ").strip()
            is_submission = method in ("sub", "late")
            assert ("highlight" in row_class.split()) == is_submission, (cls, method, row_class)
            assert cells[0].startswith("★") == is_submission
    assert page.count('<span class="marker" title="the submission">') == 2 + 2 * 2  # leaderboard + two columns


def test_failed_cells_show_their_reasons(board: Board, page: str) -> None:
    leaderboard = next(rows for cls, rows in _tables(page) if cls == "leaderboard")
    late = next(cells for _, cells in leaderboard if cells[0].endswith("late"))
    resnet56 = 3  # method, type, resnet20, resnet56, avg rank
    assert "(1 failed)" in late[resnet56] and f"seed 2: {REASON}" in late[resnet56]
    assert "seed" not in late[2]  # the other column's cell had no failure
    also = next(cells for _, cells in leaderboard if cells[0] == "also")
    assert "seed 4: oracle exceeded its CPU budget" in also[resnet56]
    reasons = failure_reasons(board)
    assert reasons[(RowKey("late", "submission"), ("cifar100-mtl", "resnet56"))] == [f"seed 2: {REASON}"]


def test_unreadable_records_are_reasons_too(tmp_path: Path) -> None:
    from harness.report.board import UnreadableRun

    key = (RowKey("sub", "submission"), ("cifar100-mtl", "resnet20"))
    board = build_board(
        [_run("equal", "resnet20", 1, 50.0), _run("sub", "resnet20", 1, 51.0, "submission")],
        TASKS,
        "dev",
        unreadable=[UnreadableRun("runs/dev/sub/x.json: truncated JSON", key)],
    )
    assert failure_reasons(board)[key] == ["unreadable record runs/dev/sub/x.json: truncated JSON"]
    assert "unreadable record runs/dev/sub/x.json: truncated JSON" in render_html(board, TASKS, "")


def _points(svg: str) -> dict[str, float]:
    """The forest plot's point per row: method -> x."""
    out = {}
    for group in re.findall(r'<g class="forest-row[^"]*" data-method="([^"]+)">(.*?)</g>', svg, re.S):
        point = re.search(r'<circle class="point" cx="([\d.]+)"', group[1])
        if point:
            out[group[0]] = float(point.group(1))
    return out


def test_the_forest_plot_places_each_difference_around_zero(board: Board) -> None:
    column = board.columns[0]
    svg = forest_figure(board, column)
    assert svg is not None
    zero = float(re.search(r'<line class="zero" x1="([\d.]+)"', svg).group(1))  # type: ignore[union-attr]
    points = _points(svg)
    # equal itself has no row; the failed rows (late, also in resnet56) are listed without a point
    assert set(points) == {"zeta", "sub", "dwa", "uncertainty", "late", "also"}
    assert points["zeta"] > points["sub"] > zero  # +3.2 > +1.2 > 0: right of zero is better
    assert points["dwa"] == pytest.approx(zero, abs=0.01)
    assert points["uncertainty"] < zero
    assert "better →" in svg and "paired" in svg and "p_Holm" in svg
    rows = re.findall(r'data-method="([^"]+)"', svg)
    assert rows == [r.method for r in row_order(board) if r.method != "equal"]
    failed = forest_figure(board, board.columns[1])
    assert failed is not None and "late" not in _points(failed) and "a failed run: no test" in failed


def test_the_forest_plot_of_a_lower_is_better_metric_points_left() -> None:
    from harness.report.forest import ForestRow, forest_svg

    svg = forest_svg("t", "age MAE − equal (years)", False, [ForestRow("a", False, -1.0, -1.5, -0.5, "paired t-test")])
    assert "← better" in svg and "better →" not in svg


def _panel_runs() -> list[RunRecord]:
    return [
        _run(method, "resnet20", seed, 50.0 + seed, kind, curve=(30.0 + seed, 40.0 + seed))
        for method, kind in (("equal", "baseline"), ("dwa", "baseline"), ("mine", "submission"))
        for seed in (1, 2, 3)
    ]


def test_the_curves_are_readable_and_identical_curves_stay_visible() -> None:
    fine = panels(CIFAR)[0]
    figure = panel_figure(fine, _panel_runs())
    axis = figure.axes[0]
    assert figure.dpi >= 150 and DPI >= 150
    low, high = axis.get_xlim()
    ticks = [t for t in axis.get_xticks() if low <= t <= high]
    assert ticks == [1.0, 2.0, 3.0]  # integer epochs, 1-based, no 1.5
    assert axis.get_ylabel() == metric_label(CIFAR, "fine_acc") and axis.get_xlabel() == "epoch"
    assert axis.get_ylabel().startswith("fine") and axis.get_ylabel().endswith("(%) ↑")
    assert all(label.get_fontsize() >= 9 for label in axis.get_yticklabels() + axis.get_xticklabels())
    width, height = figure.get_size_inches()
    assert width >= 5 and height >= 3.5
    lines = axis.get_lines()
    assert [line.get_label() for line in lines] == ["dwa (n=3)", "equal (n=3)", "★ mine (n=3)"]
    styles = {(line.get_linestyle(), line.get_marker()) for line in lines}
    assert len(styles) == 3  # dwa and equal are the same numbers: their style tells them apart
    dwa, equal = lines[0], lines[1]
    assert list(dwa.get_ydata()) == list(equal.get_ydata())
    assert dwa.get_linewidth() > equal.get_linewidth() and dwa.get_markersize() > equal.get_markersize()
    assert len(axis.collections) == 3  # one min-max band per method with several seeds


def test_weight_panels_and_the_page_embed_every_panel(page: str) -> None:
    weight: Panel = panels(CIFAR)[2]
    figure = panel_figure(weight, _panel_runs())
    assert "weight of fine" in figure.axes[0].get_ylabel()
    assert page.count('<img class="curves"') == 2 * len(panels(CIFAR))  # every panel of both columns
    assert "<script src" not in page and "http://" not in page and "https://" not in page
