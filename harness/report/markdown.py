"""The leaderboard as markdown: the main table, the notes that explain it, a table per
column and the provenance footer."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import jinja2

from harness.api.task import Task
from harness.report.board import ALPHA, BETTER, REFERENCE, WORSE, Board
from harness.report.long_form import verdict_lines
from harness.report.provenance import provenance
from harness.report.tables import column_lines, detail_table, main_table, protocol_banner, reference_tables

TEMPLATES = Path(__file__).resolve().parent / "templates"


def notes(board: Board, tasks: dict[str, Task]) -> list[str]:
    shown_tasks = {c.task.name: c.task for c in board.columns} or tasks
    lines = [
        f"`{task.name}`: {task.primary_label} = {task.primary_metric} "
        f"(best over epochs, {'higher' if task.higher_is_better else 'lower'} is better)"
        for task in shown_tasks.values()
    ]
    lines += [
        "A cell is the mean ± sample std over seeds (and Adience folds); a single run shows its value. "
        f"n = runs per cell (largest n: {board.max_n()}); `(n=k)` marks a cell with fewer.",
        f"{BETTER} / {WORSE}: better / worse than `{REFERENCE}` weighting at p < {ALPHA} after Holm's correction over "
        "the row's comparisons in that column (vs `equal`, vs the tuned fixed weights, vs the best baseline, those "
        "that ran): each by the paired two-sided t-test over seeds (and folds) where every run of both rows has its "
        "partner (same seed, same data order and initialisation), else Welch's two-sided t-test over the cell's "
        "runs (no mark with fewer than 2 runs a side). The per-column tables give the 95% Student-t interval of "
        "the mean, the final epoch's mean, the uncorrected difference to `equal` (Welch's p) and to the best "
        "baseline, the paired difference to `equal` with its 95% t-interval, paired p and a bootstrap percentile "
        "interval (every resample up to 6 pairs), and each Holm-corrected test as the verdicts state it.",
        "A column's values follow its checkpoint rule, named in its header: `best test epoch` is the seed "
        "table's (the best test value over epochs: a choice made on the test split, kept for comparability); "
        "`best val epoch` under `--protocol heldout`. Δm%, the hypervolume and the trade-off figure use the "
        "final epoch's metrics (no choice of epoch).",
        "The best baseline and the tuned fixed weights (the fixed-weight grid's best point) are chosen on the "
        "validation split where every candidate has held-out runs of this preset (`--protocol heldout`) without a "
        "failure; otherwise on the numbers they are then tested on, which is said (`chosen on test` or `on the "
        "validation numbers tested`: optimistic for the baseline).",
        "avg rank: the mean over columns of a row's rank by mean (1 = best); published rows, single-task controls "
        "and fixed-weight grid points are not ranked.",
        "`failed`: every run of that cell failed; `—`: no run. A cell with a failed run, `(k failed)`, has no "
        "mark, no test and no rank, and its row no average rank (`—`): a method must not leave its bad seeds "
        "out of its mean by failing them. A job its method failed is not run again without --force.",
    ]
    mixed = [
        f"`{row.method}` in {column.name}: {'; '.join(sorted(cell.environments))}"
        for column in board.columns
        for row in board.rows()
        if (cell := board.cell(row, column)) is not None and len(cell.environments) > 1
    ]
    if mixed:
        lines.append(
            "Runs from different environments (device model, torch, CUDA, driver) in one cell: their numbers were "
            "not computed alike, and the cache reused them: " + " | ".join(mixed)
        )
    if any(board.role(row).control for row in board.cells):
        lines.append(
            "`single:<loss>`: the single-task control that trains that loss alone (`baselines --controls`); a "
            "column whose metric needs a head it does not train shows `—`. Δm% = 100 × the mean over task losses "
            "of (−1)^(lower is better) (M − M_single) / M_single, per seed against the same seed's controls "
            "(positive: better than single-task models), with its 95% t-interval."
        )
    if any(board.role(row).frontier for row in board.cells):
        lines.append(
            "`fixed-weights:<shares>`: Σ w_i L_i with fixed weights summing to the task count on a grid of the "
            "simplex (`baselines --frontier`); `equal` is its centre."
        )
    lines += [
        f"`{name}`: {count} run(s) of an earlier file of this name left off: a row is the newest file's runs."
        for name, count in sorted(board.superseded.items())
    ]
    lines += unreadable_notes(board)
    if any(" [" in r.method and not r.published for r in board.cells):
        lines.append(
            "`method [option=value, ...]`: runs with task options changed from the preset's (e.g. "
            "`--face-recipe gender-first`), ranked as a row of their own."
        )
    if any(r.published for r in board.cells):
        lines.append("Rows marked (published) are imported reference numbers, not runs of this harness.")
    if any(cell.reported is not None for row in board.cells.values() for cell in row.values()):
        lines.append(
            "A published cell with only a reported mean ± std (no per-seed or per-fold values) shows it with n as "
            "reported; it is never tested against, so it has no Δ, p or mark."
        )
    hidden = "shown (final evaluation)" if board.include_hidden else "not shown"
    lines.append(f"Hidden architectures: {hidden}.")
    keys = {key for key in board.protocol_keys().values()}
    lines.append(f"Protocol: {', '.join(sorted(keys)) or 'standard'}.")
    if board.other_protocols:
        lines.append(
            f"Runs of this preset under other protocols ({', '.join(board.other_protocols)}) have boards of their "
            "own: pass the same --epochs / --train-fraction / --protocol to `leaderboard`."
        )
    return lines


def unreadable_notes(board: Board) -> list[str]:
    """The record files that could not be read: each is a failed run of its method (a run
    must not leave the board by breaking its record), listed with the reason."""
    unreadable = board.unreadable()
    if not unreadable:
        return []
    return [
        f"{len(unreadable)} run record file(s) could not be read: each counts as a failed run of the method "
        "and column its path names, on every board of its preset (its protocol cannot be read):",
        *(f"unreadable: {item}" for item in unreadable),
    ]


def render_board_markdown(board: Board, tasks: dict[str, Task]) -> str:
    table = main_table(board)
    body = (
        "_No run records for this preset yet._"
        if table.empty
        else table.to_markdown(index=False, disable_numparse=True)
    )
    references = [
        (title, caveat, table.to_markdown(index=False, disable_numparse=True))
        for title, caveat, table in reference_tables(board)
    ]
    details = [
        (
            column.name,
            detail_table(board, column).to_markdown(index=False, disable_numparse=True),
            column_lines(board, column),
        )
        for column in board.columns
    ]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True, autoescape=False
    )
    return environment.get_template("leaderboard.md.j2").render(
        preset=board.preset,
        banner=protocol_banner(board),
        table=body,
        notes=notes(board, tasks),
        details=details,
        verdicts=verdict_lines(board),
        references=references,
        provenance=provenance(board.runs).lines(),
        rendered=rendered_line(board),
    )


def rendered_line(board: Board) -> str:
    return f"Rendered {datetime.now(UTC).isoformat(timespec='seconds')} from {len(board.runs)} run records."
