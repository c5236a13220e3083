"""The Python API: the commands' answers as functions, for programs and agents.

    from harness import leaderboard, submit, validate
    report = validate("submissions/my_loss.py")          # ValidationOutput
    if not report.problems:
        run = submit("submissions/my_loss.py", preset="tiny", tasks=["cifar100-mtl"])  # RunOutput
        board = leaderboard(results="results", preset="tiny")
        print(board.frame().query("method == 'my_loss'"))  # one row per column of the board

The functions return the same pydantic models the CLI prints with `--json`
(harness/outputs.py, schemas in docs/schema/), and the CLI is built on them. Errors of
bad input are `harness.api.errors.HarnessError` (a submission's: `SubmissionError`), with
the message the CLI prints.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.api.errors import HarnessError
from harness.api.records import Protocol
from harness.outputs import BoardCell, LeaderboardOutput, RunOutput, ValidationEpoch, ValidationOutput


def leaderboard(
    results: str | Path = "results",
    preset: str | None = None,
    final: bool = False,
    protocol: Protocol | None = None,
) -> LeaderboardOutput:
    """The board of `preset` (default smoke; `final=True`: the final evaluation's, hidden
    architectures shown) from the run records and published rows under `results`; with
    `protocol` (screening, held-out evaluation) the board of the runs under it."""
    from harness import registry
    from harness.report.board import build_board
    from harness.report.files import load_for_board

    preset = preset or ("final" if final else "smoke")
    if final and preset != "final":
        raise HarnessError(
            "--final shows the hidden architectures of the final evaluation: use it with "
            "--preset final (the default with --final)"
        )
    tasks, _ = registry.tasks.load_all()
    records, published, unreadable = load_for_board(Path(results))
    board = build_board(records, tasks, preset, final, published, protocol, unreadable)
    cells = [BoardCell.model_validate(row) for row in board.long_rows()]
    return LeaderboardOutput(
        exit_code=0,
        preset=preset,
        protocol=board.protocol_label(),
        protocols=board.protocol_keys(),
        comparable_to_published=board.comparable_to_published,
        include_hidden=final,
        cells=cells,
        unreadable_records=board.unreadable(),
    )


def submit(
    path: str | Path,
    preset: str = "smoke",
    tasks: list[str] | None = None,
    archs: list[str] | None = None,
    seeds: list[int] | None = None,
    results: str | Path = "results",
    name: str | None = None,
    baselines: bool = True,
    sandbox: str | None = None,
    device: str = "auto",
    data_root: str | Path | None = None,
    epochs: int | None = None,
    train_fraction: float | None = None,
    heldout: bool = False,
) -> RunOutput:
    """Train the file on the preset's jobs (and the seed's baselines where their records are
    missing), wait, and return every job's outcome and the board: `submit` on the command
    line, through the same parser and code. `epochs`/`train_fraction` make it a screening run
    and `heldout` scores a validation split instead of the test split (ranked apart).
    Progress goes to stderr."""
    argv = ["submit", str(path), "--preset", preset, "--results", str(results), "--device", device, "--json"]
    argv += ["--tasks", *tasks] if tasks else []
    argv += ["--archs", *archs] if archs else []
    argv += ["--seeds", *map(str, seeds)] if seeds else []
    argv += ["--name", name] if name else []
    argv += [] if baselines else ["--no-baselines"]
    argv += ["--sandbox", sandbox] if sandbox else []
    argv += ["--data-root", str(data_root)] if data_root else []
    argv += ["--epochs", str(epochs)] if epochs is not None else []
    argv += ["--train-fraction", repr(train_fraction)] if train_fraction is not None else []
    argv += ["--protocol", "heldout"] if heldout else []
    return _run_command(argv)


def _run_command(argv: list[str]) -> Any:
    import contextlib

    from harness.cli import build_parser

    args = build_parser(argv).parse_args(argv)
    with contextlib.redirect_stdout(sys.stderr):
        code = args.func(args)
    output = args.json_output
    output.exit_code = code
    return output


def validate(
    path: str | Path, task: str | None = None, sandbox: str | None = None, epochs: int = 5, steps: int = 20
) -> ValidationOutput:
    """Run the file in the sandbox on a synthetic trajectory (loss level) or on synthetic
    conflicting gradients (gradient level): per-epoch weights or coefficients, problems,
    warnings. `exit_code` is the CLI's: 0 no problems, 1 problems, 2 the file cannot run."""
    output, _ = run_validation(Path(path), task, sandbox, epochs, steps)
    return output


def run_validation(
    path: Path,
    task: str | None,
    sandbox: str | None,
    epochs: int,
    steps: int,
    warn: Callable[[str], None] = lambda text: print(text, file=sys.stderr),
) -> tuple[ValidationOutput, Any]:
    """`validate` with the method's own report (for the CLI's human tables)."""
    from harness import registry
    from harness.api.sandbox import OracleLimits
    from harness.methods.validate import validate as validate_loss
    from harness.methods.validate_gradient import validate_gradient
    from harness.oracle.choose import choose_sandbox

    names = registry.tasks.names()
    chosen = registry.tasks.get(task or (names[0] if names else ""))
    if epochs < 1 or steps < 1:
        raise HarnessError("--epochs and --steps must be at least 1")
    backend = choose_sandbox(sandbox, warn=warn)
    level = file_format(path)
    started = time.perf_counter()
    if level == "loss":
        report: Any = validate_loss(path, chosen.loss_names, backend, OracleLimits(), epochs, steps)
    else:
        report = validate_gradient(path, chosen.loss_names, backend, OracleLimits(), level, epochs, steps)  # type: ignore[arg-type]
    output = validation_output(path, level, backend.name, started, report)
    ran = bool(report.steps)
    output.exit_code = 0 if not report.problems else (1 if ran else 2)
    return output, report


def file_format(path: Path) -> str:
    """The format the file states by its class; unreadable files go the loss path, which
    reports why."""
    from harness.oracle.guest.gradient import declared_format
    from harness.oracle.guest.loader import SubmissionFault, read_source

    try:
        source, _ = read_source(path)  # within the size limit: nothing bigger is parsed
    except (OSError, SubmissionFault):
        return "loss"
    try:
        return declared_format(path, source)
    except SubmissionFault as exc:
        raise HarnessError(str(exc)) from None


def validation_output(path: Path, level: str, sandbox: str, started: float, report: Any) -> ValidationOutput:
    """The document: per-epoch means of what the human tables show."""
    steps: list[dict] = report.steps
    names: tuple[str, ...] = report.loss_names
    epochs = []
    for epoch in sorted({s["epoch"] for s in steps}):
        rows = [s for s in steps if s["epoch"] == epoch]

        def mean(key: str, index: int | None = None, rows: list[dict] = rows) -> float:
            return statistics.fmean(r[key] if index is None else r[key][index] for r in rows)

        gradient = level != "loss"
        per_task = range(len(names))
        epochs.append(
            ValidationEpoch(
                epoch=epoch,
                weights=None if gradient else {n: mean("weights", i) for i, n in zip(per_task, names)},
                losses=None if gradient else {n: mean("values", i) for i, n in zip(per_task, names)},
                cosine_before=mean("before") if gradient else None,
                cosine_after={n: mean("after", i) for i, n in zip(per_task, names)} if gradient else None,
                coefficients={n: mean("coefficients", i) for i, n in zip(per_task, names)} if gradient else None,
                ms_per_call=mean("ms"),
            )
        )
    return ValidationOutput(
        exit_code=0,
        file=str(path),
        format=level,  # type: ignore[arg-type]
        sandbox=sandbox,
        seconds=time.perf_counter() - started,
        calls=len(steps),
        epochs=epochs,
        median_ms_per_call=statistics.median(s["ms"] for s in steps) if steps else None,
        warnings=list(report.warnings),
        problems=list(report.problems),
        error_details=report.error_details,
    )
