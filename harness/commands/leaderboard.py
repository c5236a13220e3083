"""`leaderboard`: the board of one preset and protocol, built once from the run records, written
to the files asked for and answered as the `LeaderboardOutput` document."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import registry
from harness.api.errors import HarnessError
from harness.api.records import Protocol
from harness.commands.planning import chosen_tasks
from harness.commands.requests import LeaderboardRequest
from harness.outputs import BoardCell, BoardColumn, LeaderboardOutput
from harness.report.board import Board
from harness.report.files import load_board, write_reports
from harness.report.long_form import column_rows, long_rows, verdict_lines


@dataclass(frozen=True)
class BoardAnswer:
    output: LeaderboardOutput
    text: str  # the board as markdown, for people


def leaderboard(request: LeaderboardRequest) -> BoardAnswer:
    """The board (files written where the request says), its document and its markdown."""
    preset = request.board_preset
    if request.final and preset != "final":
        raise HarnessError(
            "--final shows the hidden architectures of the final evaluation: use it with "
            "--preset final (the default with --final)"
        )
    tasks = chosen_tasks(None)
    board = load_board(request.results, tasks, preset, request.final, request.protocol)
    text = write_reports(board, tasks, request.out, request.html, request.csv, request.tensorboard)
    written = [str(p) for p in (request.out, request.html, request.csv, request.tensorboard) if p is not None]
    return BoardAnswer(board_output(board, preset, request.final, written), text)


def publish_board(
    results: Path, preset: str, final: bool, protocol: Protocol, stem: Path, tensorboard: Path | None
) -> BoardAnswer:
    """After a training command: the board of its preset and protocol over every registered
    task (the same board `leaderboard` shows: a run on some tasks never shrinks it), as
    STEM.md and STEM.html (and the runs as event files with `tensorboard`)."""
    md, html = stem.with_suffix(".md"), stem.with_suffix(".html")
    tasks, _ = registry.tasks.load_all()  # a broken plugin was reported when the tasks were chosen
    board = load_board(results, tasks, preset, final, protocol)
    text = write_reports(board, tasks, md, html, None, tensorboard)
    return BoardAnswer(board_output(board, preset, final, [str(md), str(html)]), text)


def board_output(board: Board, preset: str, final: bool, files: list[str]) -> LeaderboardOutput:
    """The document of a built board: one cell per method and column, one entry per column
    (power, tuned fixed weights, frontier) and the entries' verdicts."""
    return LeaderboardOutput(
        exit_code=0,
        preset=preset,
        protocol=board.protocol_label(),
        protocols=board.protocol_keys(),
        comparable_to_published=board.comparable_to_published,
        include_hidden=final,
        cells=[BoardCell.model_validate(row) for row in long_rows(board)],
        columns=[BoardColumn.model_validate(row) for row in column_rows(board)],
        verdicts=verdict_lines(board),
        unreadable_records=board.unreadable(),
        files=files,
    )
