"""The Python API: the commands as functions, for programs and agents.

    from harness import leaderboard, submit, validate
    report = validate("submissions/my_loss.py")          # ValidationOutput
    if not report.problems:
        run = submit("submissions/my_loss.py", preset="tiny", tasks=["cifar100-mtl"])  # RunOutput
        board = leaderboard(results="results", preset="tiny")
        print(board.frame().query("method == 'my_loss'"))  # one row per column of the board

Each function builds the command's typed request (harness/commands/requests.py) and calls
the library function the CLI calls with the request it parsed, so both answer with the
same pydantic model (harness/outputs.py, schemas in docs/schema/; the CLI prints it with
`--json`). Progress goes to stderr. Errors of bad input are `harness.api.errors.HarnessError`
(a submission's: `SubmissionError`), with the message the CLI prints; a failed job is an
`exit_code` of 1 in the answer, as the CLI's.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.api.errors import HarnessError
from harness.api.records import Protocol
from harness.commands.requests import DEFAULT_DATA, LeaderboardRequest, SubmitRequest, ValidateRequest
from harness.outputs import LeaderboardOutput, RunOutput, ValidationOutput

R = TypeVar("R", bound=BaseModel)


def leaderboard(
    results: str | Path = "results",
    preset: str | None = None,
    final: bool = False,
    protocol: Protocol | None = None,
) -> LeaderboardOutput:
    """The board of `preset` (default smoke; `final=True`: the final evaluation's, hidden
    architectures shown) from the run records and published rows under `results`; with
    `protocol` (screening, held-out evaluation) the board of the runs under it."""
    from harness.commands.leaderboard import leaderboard as board_of

    request = request_of(
        LeaderboardRequest, results=Path(results), preset=preset, final=final, protocol=protocol or Protocol()
    )
    return _answered(lambda: board_of(request).output)


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
    dry_run: bool = False,
) -> RunOutput:
    """Train the file on the preset's jobs (and the seed's baselines where their records are
    missing), wait, and return every job's outcome and the board: `submit` on the command
    line. `epochs`/`train_fraction` make it a screening run and `heldout` scores a validation
    split instead of the test split (ranked apart). `dry_run`: the plan, what is recorded and
    the estimated device-hours, nothing queued or trained."""
    from harness.commands.runs import submit as run_submission

    protocol = request_of(
        Protocol, epochs=epochs, train_fraction=train_fraction, evaluation="heldout" if heldout else "test"
    )
    request = request_of(
        SubmitRequest,
        file=Path(path),
        preset=preset,
        tasks=tasks,
        archs=archs,
        seeds=seeds,
        results=Path(results),
        name=name,
        baselines=baselines,
        sandbox=sandbox,
        device=device,
        data_root=Path(data_root) if data_root is not None else DEFAULT_DATA,
        protocol=protocol,
        dry_run=dry_run,
    )
    return _answered(lambda: run_submission(request).output)


def validate(
    path: str | Path, task: str | None = None, sandbox: str | None = None, epochs: int = 5, steps: int = 20
) -> ValidationOutput:
    """Run the file in the sandbox on a synthetic trajectory (loss level) or on synthetic
    conflicting gradients (gradient level): per-epoch weights or coefficients, problems,
    warnings. `exit_code` is the CLI's: 0 no problems, 1 problems, 2 the file cannot run."""
    from harness.commands.validation import validate as run_validation

    request = request_of(ValidateRequest, file=Path(path), task=task, sandbox=sandbox, epochs=epochs, steps=steps)
    return _answered(lambda: run_validation(request).output)


def request_of(model: type[R], **fields: Any) -> R:
    """The request, or a one-line HarnessError naming the argument that does not fit."""
    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in error["loc"])
        raise HarnessError(f"{where}: {message.lower()}" if where else message) from None


def _answered(call: Callable[[], R]) -> R:
    with _progress_on_stderr():
        return call()


@contextlib.contextmanager
def _progress_on_stderr() -> Iterator[None]:
    """What the commands print for people goes to stderr: a program's stdout stays its own."""
    with contextlib.redirect_stdout(sys.stderr):
        yield
