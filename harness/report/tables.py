"""The board as tables of text: a cell as `mean ± std ▲ (n=k)`, the main table, a table per
column with its tests, the published references, the protocol banner and the CSV. Markdown
and HTML print these same frames, so the two reports cannot disagree; every number comes
from `Board` (report/board.py), which knows nothing of how it is shown."""

from __future__ import annotations

from typing import cast

import pandas as pd

from harness.report.board import CHOSEN_ON, REFERENCE, Board, Column, RowKey
from harness.report.long_form import long_rows
from harness.report.stats import Comparison
from harness.report.verdicts import (
    BEST,
    TUNED,
    Interval,
    comparisons,
    delta_m,
    frontier_hypervolume,
    mark,
    power,
    row_hypervolume,
    test_against,
    test_text,
    tuned_point,
    weights_label,
)

NONE = "—"  # no run, no test, no rank


def cell_text(board: Board, row: RowKey, column: Column) -> str:
    """A main-table cell: the mean ± std (a lone run's value), its mark against `equal`
    (Holm-corrected), `(n=k)` where it has fewer runs than the fullest cell and `(k failed)`;
    `—` for a control that does not train every head the column's metric needs."""
    cell = board.cell(row, column)
    if cell is None:
        return NONE
    if cell.unscored:
        return NONE + (f" ({cell.failed} failed)" if cell.failed else "")
    summary = cell.summary
    if summary is None:
        return "failed"
    if summary.std is None:
        text = f"{summary.mean:.3f}"
    else:
        text = f"{summary.mean:.2f} ± {summary.std:.2f}"
    marked = mark(board, row, column)
    text += f" {marked}" if marked else ""
    if summary.n < board.max_n():
        text += f" (n={summary.n})"
    if cell.failed:
        text += f" ({cell.failed} failed)"
    return text


def interval_text(interval: Interval | None, unit: str = "", sign: str = "+") -> str:
    """`+1.20% [+0.30, +2.10]` (a difference; `sign=""` for a plain quantity), or the lone
    value, or `—`."""
    if interval is None:
        return NONE
    text = f"{interval.mean:{sign}.2f}{unit}"
    return text if interval.low is None else text + f" [{interval.low:{sign}.2f}, {interval.high:{sign}.2f}]"


def delta_m_name(column: Column) -> str:
    return f"Δm% {column.arch}-{column.task.column_tag} (final epoch)"


def delta_m_columns(board: Board) -> list[Column]:
    """The columns where some row has a Δm% (their single-task controls ran)."""
    return [c for c in board.columns if any(delta_m(board, row, c) for row in board.cells)]


def main_table(board: Board) -> pd.DataFrame:
    """One line per row: its cells, its Δm% where the controls ran, and its average rank."""
    ranks = board.ranks()
    with_delta_m = delta_m_columns(board)
    data = []
    names = ["method", "type"]
    for column in board.columns:
        names.append(column.name)
        if column in with_delta_m:
            names.append(delta_m_name(column))
    for row in board.rows():
        line = {"method": row.method, "type": row.type_label}
        for column in board.columns:
            line[column.name] = cell_text(board, row, column)
            if column in with_delta_m:
                line[delta_m_name(column)] = interval_text(delta_m(board, row, column), "%")
        rank = ranks.get(row)
        line["avg rank"] = f"{rank:.2f}" if rank is not None else NONE
        data.append(line)
    return pd.DataFrame(data, columns=[*names, "avg rank"])


def _delta_text(comparison: Comparison | None, mark: str = "") -> str:
    """Welch's difference with its uncorrected p, and `mark`: the Holm-corrected test's,
    where this test is the one that decides it."""
    if comparison is None:
        return NONE
    text = f"{comparison.difference:+.2f}"
    if comparison.p is None:
        return text + " (n<2)"
    return text + f" (p={comparison.p:.3f})" + (f" {mark}" if mark else "")


def _holm_mark(board: Board, row: RowKey, column: Column, against: str) -> str:
    """▲ / ▼ where the row's Holm-corrected test against `against` is significant."""
    test = test_against(board, row, column, against)
    return board.mark_of(test.difference, column) if test is not None and test.significant else ""


def _paired_text(board: Board, row: RowKey, other: RowKey | None, column: Column, mark: str = "") -> str:
    """The paired difference over shared seeds: t-interval, uncorrected p, n, bootstrap
    interval, and `mark` (the Holm-corrected one) where every run is paired."""
    paired = board.paired(row, other, column)
    if paired is None:
        return NONE
    text = f"{paired.difference:+.2f}"
    if paired.p is None:
        return text + " (1 pair)"
    mark = f" {mark}" if mark and board.fully_paired(row, other, column) else ""
    return (
        text
        + f" [{paired.ci_low:.2f}, {paired.ci_high:.2f}] (p={paired.p:.3f}, n={paired.n}){mark}"
        + f"; bootstrap [{paired.bootstrap_low:.2f}, {paired.bootstrap_high:.2f}]"
    )


def detail_table(board: Board, column: Column) -> pd.DataFrame:
    """One column's statistics per row: n, failures, mean ± std, 95% interval, and the
    differences to `equal` (Welch's and paired) and to the best baseline."""
    best, best_on = board.chosen(column)
    reference = board.reference()
    task_count = len(column.task.task_metrics)
    data = []
    for row in board.rows():
        cell = board.cell(row, column)
        if cell is None:
            continue
        summary = cell.summary
        line = {
            "method": row.method,
            "type": row.type_label,
            "n": str(cell.n),
            "failed": str(cell.failed),
        }
        finals = [] if cell.unscored else cell.final_values(column.task.primary_metric)
        if cell.unscored:
            trains = ", ".join(board.role(row).trains or ())
            line.update({"mean ± std": f"{NONE} (trains {trains} only)", "95% CI": NONE})
        elif summary is None:
            line.update({"mean ± std": "failed", "95% CI": NONE})
        else:
            line["mean ± std"] = f"{summary.mean:.3f}" + (f" ± {summary.std:.3f}" if summary.std is not None else "")
            line["95% CI"] = NONE if summary.ci_low is None else f"[{summary.ci_low:.2f}, {summary.ci_high:.2f}]"
        line["final epoch"] = f"{sum(finals) / len(finals):.3f}" if finals else NONE
        if cell.unscored:
            line.update({f"Δ vs {REFERENCE}": NONE, f"paired Δ vs {REFERENCE} [95% CI]": NONE})
            line.update({"Δ vs best baseline": NONE, "Holm-corrected tests": NONE})
            line.update({"Δm% [95% CI]": NONE, "hypervolume [95% CI]": NONE} if task_count else {})
            data.append(line)
            continue
        to_reference = _holm_mark(board, row, column, REFERENCE)
        paired_to_reference = board.fully_paired(row, reference, column)
        line[f"Δ vs {REFERENCE}"] = _delta_text(
            board.versus(row, reference, column), "" if paired_to_reference else to_reference
        )
        line[f"paired Δ vs {REFERENCE} [95% CI]"] = _paired_text(board, row, reference, column, to_reference)
        to_best = "" if board.fully_paired(row, best, column) else _holm_mark(board, row, column, BEST)
        best_text = _delta_text(board.versus(row, best, column), to_best)
        line["Δ vs best baseline"] = (
            f"{best.method} ({CHOSEN_ON[best_on]}): {best_text}" if best and best_text != NONE else NONE
        )
        tests = comparisons(board, row, column)
        line["Holm-corrected tests"] = "; ".join(test_text(board, t, column) for t in tests) or NONE
        if task_count:
            line["Δm% [95% CI]"] = interval_text(delta_m(board, row, column), "%")
            line["hypervolume [95% CI]"] = interval_text(row_hypervolume(board, row, column), sign="")
        data.append(line)
    return pd.DataFrame(data)


def column_lines(board: Board, column: Column) -> list[str]:
    """Under a column's table: what its runs could detect, the tuned fixed weights and the
    frontier's hypervolume."""
    lines = []
    detectable = power(board, column)
    if detectable is not None and detectable.detectable is not None:
        lines.append(
            f"Power: with n={detectable.n} paired runs and the paired spread observed against `{REFERENCE}` "
            f"(pooled sd {detectable.spread:.3f} over {detectable.rows} row(s)), the smallest true difference a "
            f"paired t-test detects at α=0.05 with power 0.8 is {detectable.detectable:.3f} ({column.task.primary_label})."
        )
    elif board.reference() is not None:
        lines.append("Power: no row is paired with `equal` on two or more seeds: no detectable difference to state.")
    tuned, tuned_on = tuned_point(board, column)
    if tuned is not None:
        frontier = frontier_hypervolume(board, column)
        hv = f"; the whole frontier's hypervolume {interval_text(frontier, sign='')}" if frontier else ""
        lines.append(
            f"{TUNED.capitalize()}: `{tuned.method}` ({weights_label(board, tuned, column)}), the fixed-weight grid's "
            f"best point, {CHOSEN_ON[tuned_on]}{hv}."
        )
    best, best_on = board.chosen(column)
    if best is not None:
        lines.append(f"The {BEST}: `{best.method}` ({CHOSEN_ON[best_on]}).")
    return lines


def reference_tables(board: Board) -> list[tuple[str, str, pd.DataFrame]]:
    """Per imported set of reported summaries, for the tasks on this board: (title,
    caveat, one row per published system with each reported metric as mean ± std)."""
    tasks = {c.task.name for c in board.columns if board.protocols[c.task.name].standard}
    out = []
    for published in board.references:
        rows: dict[tuple[str, str], dict[str, str]] = {}
        for summary in published.summaries:
            if summary.task not in tasks:
                continue
            line = rows.setdefault(
                (summary.method, summary.arch),
                {"method": summary.method, "arch": summary.arch, "setting": summary.setting},
            )
            spread = f" ± {summary.std:.2f}" if summary.std is not None else ""
            line[f"{summary.metric} (n={summary.n})"] = f"{summary.mean:.2f}{spread}"
            line["source"] = summary.where
        if rows:
            table = pd.DataFrame(list(rows.values())).fillna(NONE)
            source_last = [c for c in table.columns if c != "source"] + ["source"]
            task_names = sorted({s.task for s in published.summaries if s.task in tasks})
            out.append((f"{', '.join(task_names)}: {published.source}", published.caveat, table[source_last]))
    return out


def protocol_banner(board: Board) -> list[str]:
    """What a reader must know before reading a board of another protocol."""
    lines = []
    protocols = board.protocols
    shown = {c.task.name for c in board.columns} or set(protocols)
    keys = sorted({protocols[t].key for t in shown if t in protocols and not protocols[t].standard})
    if any(protocols[t].screening for t in shown if t in protocols):
        lines.append(f"**Screening protocol ({'; '.join(keys)}): not comparable to the published table.**")
    if any(protocols[t].evaluation == "heldout" for t in shown if t in protocols):
        lines.append(
            "**Held-out protocol: the metrics are on a fixed, seeded 10% validation split of the training set, "
            "not the test split (only `final` scores the test split).**"
        )
    return lines


def csv_text(board: Board) -> str:
    """The long form's cells as CSV: a cell's values and unreadable files joined by `;`."""
    rows = [
        {
            **row,
            "values": ";".join(f"{v:.6g}" for v in cast(list[float], row["values"])),
            "final_epoch_values": ";".join(f"{v:.6g}" for v in cast(list[float], row["final_epoch_values"])),
            "unreadable": ";".join(cast(list[str], row["unreadable"])),
        }
        for row in long_rows(board)
    ]
    return pd.DataFrame(rows).to_csv(index=False)
