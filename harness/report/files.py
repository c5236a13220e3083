"""Render one board into the files a person asked for: markdown, HTML, CSV."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import cast

import pandas as pd

from harness.api.records import Protocol, RunRecord
from harness.api.task import Task
from harness.report.board import build_board
from harness.report.markdown import render_board_markdown, rendered_line
from harness.report.published import PublishedSet, load_published
from harness.store import UnreadableRecord, atomic_write_text, load_records


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


def write_reports(
    results: Path,
    tasks: dict[str, Task],
    preset: str,
    include_hidden: bool,
    md: Path | None,
    html: Path | None,
    csv: Path | None,
    tensorboard: Path | None = None,
    protocol: Protocol | None = None,
) -> str:
    """Render the board once into the requested files; returns the markdown. With
    `tensorboard`, the board's runs (hidden architectures only on the final board) are
    exported as event files too."""
    records, published, unreadable = load_for_board(results)
    board = build_board(records, tasks, preset, include_hidden, published, protocol, unreadable)
    text = render_board_markdown(board, tasks)
    if md is not None:
        atomic_write_text(md, text)
    if html is not None:
        from harness.report.html import render_html  # matplotlib: only when asked for

        atomic_write_text(html, render_html(board, tasks, rendered_line(board)))
    if csv is not None:
        rows = [
            {
                **row,
                "values": ";".join(f"{v:.6g}" for v in cast(list[float], row["values"])),
                "unreadable": ";".join(cast(list[str], row["unreadable"])),
            }
            for row in board.long_rows()
        ]
        atomic_write_text(csv, pd.DataFrame(rows).to_csv(index=False))
    if tensorboard is not None:
        from harness.report.tensorboard import export_records

        export_records(board.runs, tensorboard)
    return text
