"""The board's doors to the disk: `load_board` reads the results folder (run records,
published rows, and the record files that could not be read, placed by the store's layout)
and builds the board once; `write_reports` writes that board as the files a person asked
for. The board's statistics and tables never touch the store: this module does."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from pathlib import Path

from harness.api.records import Protocol, RunRecord
from harness.api.task import Task
from harness.report.board import Board, RowKey, UnreadableRun, build_board
from harness.report.markdown import render_board_markdown, rendered_line
from harness.report.published import PublishedSet, load_published
from harness.report.tables import csv_text
from harness.store import UnreadableRecord, atomic_write_text, load_records, slug


def load_for_board(results: Path) -> tuple[list[RunRecord], list[PublishedSet], list[UnreadableRecord]]:
    """The run records, published sets and unreadable record files (the board counts those
    as failed runs); every unreadable file is warned about, none is fatal."""
    loaded = load_records(results)
    published, problems = load_published(results)
    for problem in loaded.problems:
        print(f"warning: unreadable run record, counted as a failed run: {problem}", file=sys.stderr)
    for problem in problems:
        print(f"warning: skipped unreadable file {problem}", file=sys.stderr)
    return loaded.records, published, loaded.unreadable


def _method_rows(records: list[RunRecord]) -> dict[str, RowKey]:
    """The row of each method by its records' folder name (`store.record_path`)."""
    rows: dict[str, RowKey] = {}
    for record in sorted(records, key=lambda r: (r.method.name, r.method.entry_type)):
        rows.setdefault(slug(record.method.name), RowKey(record.method.name, record.method.entry_type))
    return rows


def place_unreadable(
    unreadable: Iterable[UnreadableRecord], records: list[RunRecord], tasks: dict[str, Task], preset: str
) -> list[UnreadableRun]:
    """The unreadable record files of `preset`, each placed in the one (row, column) its
    path names, or unplaced where no single column matches. The method's row comes from its
    readable `records` (type `unknown` where it has none); the protocol cannot be read, so a
    file counts on every board of its preset."""
    rows = _method_rows(records)
    out = []
    for item in unreadable:
        if item.preset not in (slug(preset), ""):
            continue
        columns = [(t.name, a.name) for t in tasks.values() for a in t.architectures if item.matches(t.name, a.name)]
        if item.method and len(columns) == 1:
            out.append(UnreadableRun(str(item), (rows.get(item.method, RowKey(item.method, "unknown")), columns[0])))
        else:
            out.append(UnreadableRun(str(item)))
    return out


def load_board(
    results: Path,
    tasks: dict[str, Task],
    preset: str,
    include_hidden: bool = False,
    protocol: Protocol | None = None,
) -> Board:
    """The board of `preset` under `protocol` from everything under `results`: built once
    per command, then written (`write_reports`) and answered as JSON from the same object.
    An unreadable record file is warned about and counts as a failed run of its method."""
    records, published, unreadable = load_for_board(results)
    placed = place_unreadable(unreadable, records, tasks, preset)
    return build_board(records, tasks, preset, include_hidden, published, protocol, placed)


def write_reports(
    board: Board,
    tasks: dict[str, Task],
    md: Path | None,
    html: Path | None,
    csv: Path | None,
    tensorboard: Path | None = None,
) -> str:
    """Write the built board into the requested files; returns its markdown. With
    `tensorboard`, the board's runs (hidden architectures only on the final board) are
    exported as event files too."""
    text = render_board_markdown(board, tasks)
    if md is not None:
        atomic_write_text(md, text)
    if html is not None:
        from harness.report.html import render_html  # matplotlib: only when asked for

        atomic_write_text(html, render_html(board, tasks, rendered_line(board)))
    if csv is not None:
        atomic_write_text(csv, csv_text(board))
    if tensorboard is not None:
        from harness.report.tensorboard import export_records

        export_records(board.runs, tensorboard)
    return text
