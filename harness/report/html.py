"""The HTML report: the leaderboard (rows by average rank, the submission highlighted, each
failed cell with its reasons), the verdicts, per column its statistics, a forest plot of each
row's difference to `equal`, the trade-off figures (inline SVG) and the training curves and
effective task weights per epoch (report/curves.py: matplotlib PNGs embedded as data URIs),
and a reproducibility footer. One self-contained file: no scripts or images fetched from
anywhere."""

from __future__ import annotations

import math

import jinja2
import markupsafe

from harness.api.records import RunRecord
from harness.api.task import Task
from harness.report.board import REFERENCE, Board, Column, RowKey, _preset_variants, settings_label
from harness.report.curves import curve_images, metric_label, metric_name, metric_unit
from harness.report.figures import tradeoff_plots
from harness.report.forest import ForestRow, forest_svg
from harness.report.long_form import verdict_lines
from harness.report.markdown import TEMPLATES, notes
from harness.report.provenance import provenance
from harness.report.tables import column_lines, detail_table, main_table, protocol_banner, reference_tables
from harness.report.tradeoff import tradeoff_svg
from harness.report.verdicts import test_against

SUBMISSION = "submission"  # the entry type `submit` records: highlighted, first among its equals
REASON_CHARS = 240  # a failure reason's first line, cut here in the table (whole in the tooltip)


def row_order(board: Board) -> list[RowKey]:
    """The leaderboard's rows as the HTML shows them: the ranked rows by average rank (1 =
    best; ties: submissions first, then by name); then the unranked entries (a failed run
    costs the rank), submissions first, then by type and name; then the controls (fixed-weight
    grid points, then single-task controls) and published rows, in the board's order."""
    ranks = board.ranks()
    rows = board.rows()
    position = {row: index for index, row in enumerate(rows)}

    def key(row: RowKey) -> tuple:
        rank = ranks.get(row)
        if rank is not None:
            return (0, rank, row.entry_type != SUBMISSION, row.method)
        if row in ranks:  # an entry or baseline without a rank
            return (1, 0.0, row.entry_type != SUBMISSION, row.entry_type == "baseline", row.entry_type, row.method)
        return (2, float(position[row]))

    return sorted(rows, key=key)


def _row_of(board: Board, run: RunRecord, variants: dict[str, object]) -> RowKey:
    """The row a run sits in: its method, with the task options it changed (as board.py names it)."""
    task = board.column((run.job.task, run.job.arch))
    assert task is not None
    if run.job.task not in variants:
        variants[run.job.task] = _preset_variants(task.task, board.preset)
    label = settings_label(task.task, run.job, variants[run.job.task])  # type: ignore[arg-type]
    return RowKey(f"{run.method.name} [{label}]" if label else run.method.name, run.method.entry_type)


def _first_line(text: str) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= REASON_CHARS else line[: REASON_CHARS - 1] + "…"


def failure_reasons(board: Board) -> dict[tuple[RowKey, tuple[str, str]], list[str]]:
    """Per (row, column), why each of its failed runs failed: the record's error (or that its
    best primary metric is not finite), `seed N` (and the fold) first; then the unreadable
    record files, `path: reason`."""
    reasons: dict[tuple[RowKey, tuple[str, str]], list[str]] = {}
    variants: dict[str, object] = {}
    for run in sorted(board.runs, key=lambda r: (r.job.seed, r.job.variant or "")):
        value = run.best_primary
        if run.status == "ok" and value is not None and math.isfinite(value):
            continue
        row = _row_of(board, run, variants)
        cell = board.cell(row, board.column((run.job.task, run.job.arch)))  # type: ignore[arg-type]
        if cell is None or (cell.unscored and run.status == "ok"):
            continue
        where = f"seed {run.job.seed}" + (f", {run.job.variant}" if run.job.variant else "")
        if run.status != "ok":
            why = run.error or f"status {run.status}"
        else:
            why = f"best {run.primary_metric} is not finite ({value})"
        reasons.setdefault((row, (run.job.task, run.job.arch)), []).append(f"{where}: {why}")
    for row, cells in board.cells.items():
        for key, cell in cells.items():
            for text in cell.unreadable:
                reasons.setdefault((row, key), []).append(f"unreadable record {text}")
    return reasons


def _row_classes(board: Board, row: RowKey) -> list[str]:
    """The row's CSS classes: its type, `highlight` for a submission, and what else it is."""
    classes = [row.entry_type.replace(" ", "-")]
    if row.entry_type == SUBMISSION and not row.published:
        classes.append("highlight")
    if row.published:
        classes.append("published")
    if board.is_control(row):
        classes.append("control")
    return classes


def details(board: Board, column: Column) -> dict[str, object]:
    """The column's table (report/tables.detail_table's text) in `row_order`, the submission
    highlighted, as header and rows."""
    frame = detail_table(board, column)
    shown = [row for row in board.rows() if board.cell(row, column) is not None]
    by_row = dict(zip(shown, frame.to_dict("records")))
    rows = []
    for row in row_order(board):
        if row in by_row:
            classes = _row_classes(board, row)
            cells = [{"text": str(by_row[row][name]), "reasons": [], "full": []} for name in frame.columns]
            rows.append({"classes": " ".join(classes), "submission": "highlight" in classes, "cells": cells})
    return {"header": list(frame.columns), "rows": rows}


def leaderboard(board: Board) -> dict[str, object] | None:
    """The main table (report/tables.main_table's text) as header and rows, in `row_order`,
    each row with its classes and each cell with its failure reasons."""
    table = main_table(board)
    if table.empty:
        return None
    by_row = dict(zip(board.rows(), table.to_dict("records")))
    reasons = failure_reasons(board)
    names = {column.name: column.key for column in board.columns}
    ranks = board.ranks()
    rows = []
    for row in row_order(board):
        texts = by_row[row]
        classes = _row_classes(board, row)
        if ranks.get(row, 0.0) is None:
            classes.append("unranked")
        cells = []
        for header in table.columns:
            key = names.get(header)
            why = reasons.get((row, key), []) if key is not None else []
            cells.append({"text": str(texts[header]), "reasons": [_first_line(r) for r in why], "full": why})
        rows.append({"classes": " ".join(classes), "submission": "highlight" in classes, "cells": cells})
    return {"header": list(table.columns), "rows": rows}


def forest_rows(board: Board, column: Column) -> list[ForestRow]:
    """Each row with a cell in the column (published rows and `equal` aside), in `row_order`:
    its Holm-corrected test against `equal`, or why it has none."""
    reference = board.reference()
    out = []
    for row in row_order(board):
        cell = board.cell(row, column)
        if row.published or row == reference or cell is None:
            continue
        submission = row.entry_type == SUBMISSION
        test = test_against(board, row, column, REFERENCE) if not cell.unscored else None
        if test is None:
            note = (
                "not scored: it trains only some heads"
                if cell.unscored
                else "a failed run: no test"
                if cell.failed
                else "no test (no run of equal to compare with)"
            )
            out.append(ForestRow(row.method, submission, None, note=note))
            continue
        out.append(
            ForestRow(row.method, submission, test.difference, test.ci_low, test.ci_high, test.test_name, test.p_holm)
        )
    return out


def forest_figure(board: Board, column: Column) -> str | None:
    """The column's forest plot (inline SVG), or None without `equal` or any other row."""
    if board.reference() is None:
        return None
    rows = forest_rows(board, column)
    if not rows:
        return None
    task = column.task
    unit = metric_unit(task.primary_metric, task)
    unit = "percentage points" if unit == "%" else unit
    axis = f"{metric_name(task, task.primary_metric)} − {REFERENCE}" + (f" ({unit})" if unit else "")
    title = f"Difference to {REFERENCE}, {column.arch}-{task.column_tag} (95% interval)"
    return forest_svg(title, axis, task.higher_is_better, rows)


def _inline(svg: str) -> str:
    """An SVG inside HTML needs no namespace declaration: the page names no address at all."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)


def _inline_code(text: str) -> markupsafe.Markup:
    """Markdown's `code` spans as <code>, everything else escaped."""
    parts = str(markupsafe.escape(text)).split("`")
    return markupsafe.Markup("".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts)))


def submission_lines(board: Board) -> list[str]:
    """Above the table: each submission's average rank among the ranked rows, or why it has none."""
    ranks = board.ranks()
    ranked = sorted(rank for rank in ranks.values() if rank is not None)
    lines = []
    for row in row_order(board):
        if row.entry_type != SUBMISSION or row.published:
            continue
        rank = ranks.get(row)
        if rank is None:
            lines.append(f"Submission `{row.method}`: no average rank (a failed run in some column; reasons below).")
        else:
            place = 1 + sum(1 for other in ranked if other < rank)
            lines.append(
                f"Submission `{row.method}`: average rank {rank:.2f}, place {place} of {len(ranked)} ranked rows."
            )
    return lines


def render_html(board: Board, tasks: dict[str, Task], rendered: str) -> str:
    sections = []
    reasons = failure_reasons(board)
    for column in board.columns:
        runs = [r for r in board.runs if (r.job.task, r.job.arch) == column.key and r.epochs]
        forest = forest_figure(board, column)
        failures = [
            f"{row.method}: {reason}" for row in row_order(board) for reason in reasons.get((row, column.key), [])
        ]
        sections.append(
            {
                "name": column.name,
                "detail": details(board, column),
                "curves": curve_images(column.task, runs) if runs else [],
                "lines": column_lines(board, column),
                "failures": failures,
                "forest": markupsafe.Markup(_inline(forest)) if forest else None,
                "test_note": (
                    f"Each row minus `{REFERENCE}` in {metric_label(column.task, column.task.primary_metric)}: "
                    "the paired t-test where every seed (and fold) is paired, else Welch's; the 95% interval "
                    "of the difference, and p Holm-corrected over the row's comparisons in this column."
                ),
                "figures": [markupsafe.Markup(_inline(tradeoff_svg(plot))) for plot in tradeoff_plots(board, column)],
            }
        )
    jobs = [
        {
            "method": r.method.name,
            "type": r.method.entry_type,
            "job": r.job.label,
            "status": r.status,
            "error": _first_line(r.error or ""),
            "device": r.environment.device_name,
            "sandbox": r.environment.sandbox,
            "commit": r.environment.git_commit,
            "torch": r.environment.torch,
            "wall": f"{r.wall_seconds:.1f}",
            "device_hours": f"{(r.device_hours or r.wall_seconds / 3600):.4f}",
        }
        for r in sorted(board.runs, key=lambda r: (r.method.name, r.job.label))
    ]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    environment.filters["code"] = _inline_code
    return environment.get_template("leaderboard.html.j2").render(
        preset=board.preset,
        banner=protocol_banner(board),
        table=leaderboard(board),
        submissions=submission_lines(board),
        notes=notes(board, tasks),
        verdicts=verdict_lines(board),
        sections=sections,
        references=[
            {"title": title, "caveat": caveat, "table": table.to_html(index=False, border=0, classes="reference")}
            for title, caveat, table in reference_tables(board)
        ],
        provenance=provenance(board.runs).lines(),
        jobs=jobs,
        rendered=rendered,
    )
