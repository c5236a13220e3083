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
from harness.outputs import BoardCell, BoardColumn, LeaderboardOutput, Verdict
from harness.report.board import Board
from harness.report.entry_verdict import entry_verdict
from harness.report.files import load_board, write_reports
from harness.report.long_form import column_rows, long_rows, verdict_lines
from harness.store import RUNS_FOLDER


class NoRunsError(HarnessError):
    """`leaderboard` found nothing to rank for the preset (and protocol) asked: exit code 1,
    with the presets it did find."""

    exit_code = 1


@dataclass(frozen=True)
class BoardAnswer:
    output: LeaderboardOutput
    text: str  # the board as markdown, for people
    board: Board

    def verdict(self, name: str) -> Verdict | None:
        """The entry's verdict on this board (None: it has no row)."""
        found = entry_verdict(self.board, name)
        return None if found is None else Verdict.model_validate(found)


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
    if not board.cells and not board.unreadable():  # no run record, readable or not, nor published row
        raise NoRunsError(no_runs_message(request.results, preset, request.protocol))
    text = write_reports(board, tasks, request.out, request.html, request.csv, request.tensorboard)
    written = [str(p) for p in (request.out, request.html, request.csv, request.tensorboard) if p is not None]
    return BoardAnswer(board_output(board, preset, request.final, written), text, board)


def no_runs_message(results: Path, preset: str, protocol: Protocol) -> str:
    """Why the board is empty, and the presets whose run records are there."""
    found = {
        folder.name: sum(1 for _ in folder.rglob("*.json"))
        for folder in sorted((results / RUNS_FOLDER).glob("*"))
        if folder.is_dir()
    }
    listed = ", ".join(f"{name} ({count} record{'s' if count != 1 else ''})" for name, count in found.items() if count)
    under = "" if protocol.standard else f" under the protocol {protocol.key}"
    return f"no run records for preset {preset}{under} in {results}/; found: {listed or 'none'}"


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
    return BoardAnswer(board_output(board, preset, final, [str(md), str(html)]), text, board)


def board_output(board: Board, preset: str, final: bool, files: list[str]) -> LeaderboardOutput:
    """The document of a built board: one cell per method and column, one entry per column
    (power, tuned fixed weights, frontier) and the entries' verdicts."""
    return LeaderboardOutput(
        exit_code=1 if board.unreadable() else 0,  # a record that cannot be read is a failure to look at
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
