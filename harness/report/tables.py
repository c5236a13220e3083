"""The board as tables of text: a cell as `mean ± std ▲ (n=k)`, the main table, a table per
column with its tests, the published references, the protocol banner and the CSV. Markdown
and HTML print these same frames, so the two reports cannot disagree; every number comes
from `Board` (report/board.py), which knows nothing of how it is shown."""

from __future__ import annotations

from typing import cast

import pandas as pd

from harness.report.board import REFERENCE, Board, Column, RowKey
from harness.report.stats import Comparison

NONE = "—"  # no run, no test, no rank


def cell_text(board: Board, row: RowKey, column: Column) -> str:
    """A main-table cell: the mean ± std (a lone run's value), its mark against `equal`,
    `(n=k)` where it has fewer runs than the fullest cell and `(k failed)`."""
    cell = board.cell(row, column)
    if cell is None:
        return NONE
    summary = cell.summary
    if summary is None:
        return "failed"
    if summary.std is None:
        text = f"{summary.mean:.3f}"
    else:
        text = f"{summary.mean:.2f} ± {summary.std:.2f}"
    mark = board.mark(board.significance(row, board.reference(), column), column)
    text += f" {mark}" if mark else ""
    if summary.n < board.max_n():
        text += f" (n={summary.n})"
    if cell.failed:
        text += f" ({cell.failed} failed)"
    return text


def main_table(board: Board) -> pd.DataFrame:
    """One line per row: its cells and its average rank."""
    ranks = board.ranks()
    data = []
    for row in board.rows():
        line = {"method": row.method, "type": row.type_label}
        for column in board.columns:
            line[column.name] = cell_text(board, row, column)
        rank = ranks.get(row)
        line["avg rank"] = f"{rank:.2f}" if rank is not None else NONE
        data.append(line)
    names = ["method", "type", *(c.name for c in board.columns), "avg rank"]
    return pd.DataFrame(data, columns=names)


def _delta_text(board: Board, comparison: Comparison | None, column: Column, marked: bool = True) -> str:
    """Welch's difference with its p (and mark, unless the paired test decides the mark)."""
    if comparison is None:
        return NONE
    text = f"{comparison.difference:+.2f}"
    if comparison.p is None:
        return text + " (n<2)"
    mark = board.mark(comparison, column) if marked else ""
    return text + f" (p={comparison.p:.3f})" + (f" {mark}" if mark else "")


def _paired_text(board: Board, row: RowKey, other: RowKey | None, column: Column) -> str:
    """The paired difference over shared seeds: t-interval, p, n, bootstrap interval, and
    the mark only where every run is paired (then it is the mark the main table shows)."""
    paired = board.paired(row, other, column)
    if paired is None:
        return NONE
    text = f"{paired.difference:+.2f}"
    if paired.p is None:
        return text + " (1 pair)"
    mark = board.mark(Comparison(paired.difference, None, None, paired.p), column)
    mark = f" {mark}" if mark and board.fully_paired(row, other, column) else ""
    return (
        text
        + f" [{paired.ci_low:.2f}, {paired.ci_high:.2f}] (p={paired.p:.3f}, n={paired.n}){mark}"
        + f"; bootstrap [{paired.bootstrap_low:.2f}, {paired.bootstrap_high:.2f}]"
    )


def detail_table(board: Board, column: Column) -> pd.DataFrame:
    """One column's statistics per row: n, failures, mean ± std, 95% interval, and the
    differences to `equal` (Welch's and paired) and to the best baseline."""
    best = board.best_baseline(column)
    reference = board.reference()
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
        if summary is None:
            line.update({"mean ± std": "failed", "95% CI": NONE})
        else:
            line["mean ± std"] = f"{summary.mean:.3f}" + (f" ± {summary.std:.3f}" if summary.std is not None else "")
            line["95% CI"] = NONE if summary.ci_low is None else f"[{summary.ci_low:.2f}, {summary.ci_high:.2f}]"
        paired_to_reference = board.fully_paired(row, reference, column)
        line[f"Δ vs {REFERENCE}"] = _delta_text(
            board, board.versus(row, reference, column), column, marked=not paired_to_reference
        )
        line[f"paired Δ vs {REFERENCE} [95% CI]"] = _paired_text(board, row, reference, column)
        best_text = _delta_text(
            board, board.versus(row, best, column), column, marked=not board.fully_paired(row, best, column)
        )
        line["Δ vs best baseline"] = f"{best.method}: {best_text}" if best and best_text != NONE else NONE
        data.append(line)
    return pd.DataFrame(data)


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
    """`Board.long_rows` as CSV: a cell's values and unreadable files joined by `;`."""
    rows = [
        {
            **row,
            "values": ";".join(f"{v:.6g}" for v in cast(list[float], row["values"])),
            "unreadable": ";".join(cast(list[str], row["unreadable"])),
        }
        for row in board.long_rows()
    ]
    return pd.DataFrame(rows).to_csv(index=False)
