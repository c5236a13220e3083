"""The board in long form, for programs: one row of numbers per cell (the JSON document's
`cells` and the CSV), one per column (its power, tuned fixed weights and frontier), and
the verdicts. Every number comes from report/board.py and report/verdicts.py."""

from __future__ import annotations

from harness.report.board import REFERENCE, Board, Column, RowKey
from harness.report.verdicts import (
    BEST,
    TUNED,
    Interval,
    Test,
    comparisons,
    delta_m,
    frontier_hypervolume,
    frontier_rows,
    power,
    row_hypervolume,
    tuned_point,
    verdict,
    weights_label,
)


def _interval_fields(prefix: str, interval: Interval | None) -> dict[str, object]:
    return {
        prefix: interval.mean if interval else None,
        f"{prefix}_ci95_low": interval.low if interval else None,
        f"{prefix}_ci95_high": interval.high if interval else None,
        f"{prefix}_n": interval.n if interval else None,
    }


def _test_fields(suffix: str, test: Test | None) -> dict[str, object]:
    return {
        f"test_vs_{suffix}": test.test_name if test else None,
        f"diff_vs_{suffix}": test.difference if test else None,
        f"diff_ci95_low_vs_{suffix}": test.ci_low if test else None,
        f"diff_ci95_high_vs_{suffix}": test.ci_high if test else None,
        f"p_holm_vs_{suffix}": test.p_holm if test else None,
    }


def _role(board: Board, row: RowKey) -> str | None:
    role = board.role(row)
    return "single-task" if role.control else "fixed-weights" if role.frontier else None


def cell_row(board: Board, row: RowKey, column: Column, rank: float | None) -> dict[str, object] | None:
    """The cell's numbers: its runs, its tests (Welch's, paired, Holm-corrected), Δm% and
    the hypervolume, and its verdict."""
    cell = board.cell(row, column)
    if cell is None:
        return None
    reference = board.reference()
    summary = None if cell.unscored else cell.summary
    vs_ref, vs_best = board.versus(row, reference, column), board.versus(row, board.best_baseline(column), column)
    paired_ref = board.paired(row, reference, column)
    best, best_on = board.chosen(column)
    tuned, tuned_on = tuned_point(board, column)
    paired_best = board.paired(row, best, column)
    tests = {t.against: t for t in comparisons(board, row, column)} if not cell.unscored else {}
    finals = cell.final_values(column.task.primary_metric) if not cell.unscored else []
    return {
        "preset": board.preset,
        "protocol": board.protocols[column.task.name].key,
        "task": column.task.name,
        "arch": column.arch,
        "column": column.name,
        "rule": column.rule,
        "method": row.method,
        "type": row.entry_type,
        "control": _role(board, row),
        "unscored": cell.unscored,
        "published": row.published,
        "reported": cell.reported is not None,
        "n": cell.n,
        "failed": cell.failed,
        "unreadable": list(cell.unreadable),
        "environments": sorted(cell.environments),
        "values": list(cell.values),
        "mean": summary.mean if summary else None,
        "std": summary.std if summary else None,
        "ci95_low": summary.ci_low if summary else None,
        "ci95_high": summary.ci_high if summary else None,
        "final_epoch_values": finals,
        "final_epoch_mean": sum(finals) / len(finals) if finals else None,
        f"delta_vs_{REFERENCE}": vs_ref.difference if vs_ref else None,
        f"p_vs_{REFERENCE}": vs_ref.p if vs_ref else None,
        "best_baseline": best.method if best else None,
        "best_baseline_chosen_on": best_on if best else None,
        "delta_vs_best_baseline": vs_best.difference if vs_best else None,
        "p_vs_best_baseline": vs_best.p if vs_best else None,
        f"paired_n_vs_{REFERENCE}": paired_ref.n if paired_ref else None,
        f"paired_delta_vs_{REFERENCE}": paired_ref.difference if paired_ref else None,
        f"paired_ci95_low_vs_{REFERENCE}": paired_ref.ci_low if paired_ref else None,
        f"paired_ci95_high_vs_{REFERENCE}": paired_ref.ci_high if paired_ref else None,
        f"paired_p_vs_{REFERENCE}": paired_ref.p if paired_ref else None,
        f"bootstrap_low_vs_{REFERENCE}": paired_ref.bootstrap_low if paired_ref else None,
        f"bootstrap_high_vs_{REFERENCE}": paired_ref.bootstrap_high if paired_ref else None,
        "paired_p_vs_best_baseline": paired_best.p if paired_best else None,
        f"marks_use_paired_test_vs_{REFERENCE}": board.fully_paired(row, reference, column),
        "tuned_fixed_weights": tuned.method if tuned else None,
        "tuned_fixed_weights_chosen_on": tuned_on if tuned else None,
        **_test_fields(REFERENCE, tests.get(REFERENCE)),
        **_test_fields("tuned_fixed_weights", tests.get(TUNED)),
        **_test_fields("best_baseline", tests.get(BEST)),
        **_interval_fields("delta_m_percent", delta_m(board, row, column)),
        **_interval_fields("hypervolume", row_hypervolume(board, row, column)),
        "avg_rank": rank,
        "verdict": verdict(board, row, column) if row.entry_type != "baseline" else None,
    }


def long_rows(board: Board) -> list[dict[str, object]]:
    """One row of numbers per cell: what the JSON document's cells and the CSV hold."""
    ranks = board.ranks()
    return [
        line
        for column in board.columns
        for row in board.rows()
        if (line := cell_row(board, row, column, ranks.get(row))) is not None
    ]


def column_rows(board: Board) -> list[dict[str, object]]:
    """Per column: what its runs could detect, its tuned fixed weights and its frontier."""
    out: list[dict[str, object]] = []
    for column in board.columns:
        detectable = power(board, column)
        tuned, tuned_on = tuned_point(board, column)
        best, best_on = board.chosen(column)
        out.append(
            {
                "task": column.task.name,
                "arch": column.arch,
                "column": column.name,
                "rule": column.rule,
                "power_n": detectable.n if detectable else None,
                "power_paired_std": detectable.spread if detectable else None,
                "power_comparisons": detectable.rows if detectable else None,
                "min_detectable_difference": detectable.detectable if detectable else None,
                "best_baseline": best.method if best else None,
                "best_baseline_chosen_on": best_on if best else None,
                "tuned_fixed_weights": tuned.method if tuned else None,
                "tuned_fixed_weights_label": weights_label(board, tuned, column) if tuned else None,
                "tuned_fixed_weights_chosen_on": tuned_on if tuned else None,
                "frontier_points": [r.method for r in frontier_rows(board, column)],
                **_interval_fields("frontier_hypervolume", frontier_hypervolume(board, column)),
            }
        )
    return out


def verdict_lines(board: Board) -> list[str]:
    """Every entry's verdict, column by column (baselines, controls and published rows have none)."""
    return [
        text
        for column in board.columns
        for row in board.rows()
        if row.entry_type != "baseline" and not row.published
        if (text := verdict(board, row, column)) is not None
    ]
