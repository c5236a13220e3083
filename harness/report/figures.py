"""The board's trade-off figures: for a column of a multi-task task, one task metric against
another (fine vs coarse, gender vs age; every pair for three task losses), from the final
epoch's metrics: each method's per-seed points and mean ± 95% interval, the fixed-weight
grid's means joined as a line, the single-task controls' values, the submission
highlighted. Data from report/board.py and report/verdicts.py, drawn by report/tradeoff.py."""

from __future__ import annotations

import math
import statistics
from itertools import combinations

from harness.api.task import TaskMetric
from harness.report.board import Board, Column, RowKey
from harness.report.stats import summarize
from harness.report.tradeoff import Axis, Interval, MethodPoints, Role, TradeoffPlot
from harness.report.verdicts import controls, frontier_rows, weights_label


def _interval(values: list[float]) -> Interval:
    summary = summarize(values)
    return Interval(summary.mean, summary.ci_low, summary.ci_high)


def _role(board: Board, row: RowKey) -> Role:
    if row == board.reference():
        return "reference"
    if row.entry_type != "baseline":
        return "submission"
    return "frontier" if board.role(row).frontier else "baseline"


def _pairs(board: Board, row: RowKey, column: Column, x: TaskMetric, y: TaskMetric) -> list[tuple[float, float]]:
    """The row's (x, y) per unit at the final epoch, where both are finite."""
    cell = board.cell(row, column)
    if cell is None or cell.failed:
        return []
    points = [(finals.get(x.metric, math.nan), finals.get(y.metric, math.nan)) for finals in cell.finals.values()]
    return [(a, b) for a, b in points if math.isfinite(a) and math.isfinite(b)]


def _control_mean(board: Board, column: Column, metric: TaskMetric) -> float | None:
    """The mean of the metric over the runs of the control that trains its loss alone."""
    row = controls(board, column).get(metric.loss)
    cell = board.cell(row, column) if row is not None else None
    values = cell.final_values(metric.metric) if cell is not None and not cell.failed else []
    return statistics.fmean(values) if values else None


def tradeoff_plots(board: Board, column: Column) -> list[TradeoffPlot]:
    """The column's figures: one per pair of task metrics (none for a single-loss task or a
    task that declares no task metrics)."""
    metrics = column.task.task_metrics
    plots = []
    for i, j in combinations(range(len(metrics)), 2) if len(metrics) <= 3 else [(0, 1)]:
        x, y = metrics[i], metrics[j]
        grid = frontier_rows(board, column)
        methods = []
        for row in board.rows():
            if row.published or board.role(row).control or (board.role(row).frontier and row != board.reference()):
                continue
            points = _pairs(board, row, column, x, y)
            if points:
                xs, ys = [p[0] for p in points], [p[1] for p in points]
                methods.append(MethodPoints(row.method, _role(board, row), tuple(points), _interval(xs), _interval(ys)))
        frontier = []
        for row in grid:
            points = _pairs(board, row, column, x, y)
            if points:
                frontier.append(
                    (
                        weights_label(board, row, column),
                        statistics.fmean(p[0] for p in points),
                        statistics.fmean(p[1] for p in points),
                    )
                )
        plots.append(
            TradeoffPlot(
                title=f"{column.task.name} on {column.arch}: {x.label} vs {y.label}",
                x=Axis(f"{x.label} (final epoch)", x.higher_is_better),
                y=Axis(f"{y.label} (final epoch)", y.higher_is_better),
                methods=tuple(methods),
                frontier=tuple(frontier),
                single_task=(_control_mean(board, column, x), _control_mean(board, column, y)),
                join_frontier=len(metrics) == 2,
            )
        )
    return plots
