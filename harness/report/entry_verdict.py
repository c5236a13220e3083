"""One entry's verdict as data: what `submit` and `final` put at the top of their document,
so that a program reads the outcome from one field instead of joining the board's cells.

Per column: the entry's primary metric (named, with its unit and direction), its mean,
interval and n, its rank among the ranked rows, its comparisons (against `equal`, the tuned
fixed weights and the best baseline, each with its test and Holm-adjusted p) and its Δm%
against the single-task controls; then counts over the columns and a one-line summary.
Every number is the board's (report/board.py, report/verdicts.py): this module only
selects and names them."""

from __future__ import annotations

from typing import Any

from harness.report.board import ALPHA, REFERENCE, Board, Column, RowKey
from harness.report.verdicts import Test, comparisons, delta_m, verdict

BETTER, WORSE, NO_DIFFERENCE, UNTESTED = "better", "worse", "no significant difference", "not tested"


def entry_row(board: Board, name: str) -> RowKey | None:
    """The entry's row on the board: its own runs, never a published row of the same name."""
    return next((row for row in board.rows() if row.method == name and not row.published), None)


def _outcome(board: Board, test: Test, column: Column) -> str:
    if test.p_holm is None:  # too few runs for a test
        return UNTESTED
    if not test.significant:
        return NO_DIFFERENCE
    return BETTER if board.favours(test.difference, column) else WORSE


def _comparison(board: Board, test: Test, column: Column) -> dict[str, Any]:
    return {
        "against": test.against,
        "method": test.other.method,
        "chosen_on": test.chosen_on,
        "test": test.test_name,
        "n": test.n,
        "difference": test.difference,
        "ci95_low": test.ci_low,
        "ci95_high": test.ci_high,
        "p": test.p,
        "p_holm": test.p_holm,
        "outcome": _outcome(board, test, column),
    }


def _column(board: Board, row: RowKey, column: Column) -> dict[str, Any] | None:
    cell = board.cell(row, column)
    if cell is None:
        return None
    described = column.task.describe_metric(column.task.primary_metric)
    summary = None if cell.unscored else cell.summary
    ranks = board.column_ranks(column)
    tests = comparisons(board, row, column) if not cell.unscored else []
    delta = delta_m(board, row, column)
    versus_single: str | None = None
    if delta is not None and delta.low is not None and delta.high is not None:
        versus_single = BETTER if delta.low > 0 else WORSE if delta.high < 0 else NO_DIFFERENCE
    return {
        "task": column.task.name,
        "arch": column.arch,
        "column": column.name,
        "rule": column.rule,
        "metric": {
            "name": described.metric,
            "label": described.label,
            "unit": described.unit,
            "higher_is_better": described.higher_is_better,
        },
        "n": cell.n,
        "failed": cell.failed,
        "mean": summary.mean if summary else None,
        "std": summary.std if summary else None,
        "ci95_low": summary.ci_low if summary else None,
        "ci95_high": summary.ci_high if summary else None,
        "rank": ranks.get(row),
        "ranked": len(ranks),
        "comparisons": [_comparison(board, test, column) for test in tests],
        "delta_m_percent": delta.mean if delta else None,
        "delta_m_percent_ci95_low": delta.low if delta else None,
        "delta_m_percent_ci95_high": delta.high if delta else None,
        "delta_m_percent_n": delta.n if delta else None,
        "versus_single_task": versus_single,
        "verdict": verdict(board, row, column),
    }


def _count(columns: list[dict[str, Any]], against: str, outcome: str) -> int:
    return sum(any(c["against"] == against and c["outcome"] == outcome for c in col["comparisons"]) for col in columns)


def _summary(name: str, columns: list[dict[str, Any]], rank: float | None, ranked: int) -> str:
    failed = sum(1 for col in columns if col["failed"])
    compared = sum(any(c["against"] == REFERENCE for c in col["comparisons"]) for col in columns)
    better, worse = _count(columns, REFERENCE, BETTER), _count(columns, REFERENCE, WORSE)
    parts = [f"{name}: against {REFERENCE}, better in {better} and worse in {worse} of {compared} column(s)"]
    parts[0] += f" (Holm-adjusted p < {ALPHA})"
    if failed:
        parts.append(f"failed runs in {failed} column(s): not ranked")
    elif rank is not None:
        parts.append(f"average rank {rank:.2f} of {ranked}")
    return "; ".join(parts)


def entry_verdict(board: Board, name: str) -> dict[str, Any] | None:
    """The verdict of the entry named `name` (None: it has no row on the board)."""
    row = entry_row(board, name)
    if row is None:
        return None
    columns = [line for column in board.columns if (line := _column(board, row, column)) is not None]
    rank = board.ranks().get(row)
    ranked = len(board.ranked_rows())
    return {
        "submission": name,
        "summary": _summary(name, columns, rank, ranked),
        "average_rank": rank,
        "ranked": ranked,
        "columns_compared_with_equal": sum(
            any(c["against"] == REFERENCE for c in col["comparisons"]) for col in columns
        ),
        "better_than_equal": _count(columns, REFERENCE, BETTER),
        "worse_than_equal": _count(columns, REFERENCE, WORSE),
        "columns": columns,
    }
