"""The Python API: the commands as functions, for programs and agents.

    from harness import leaderboard, plugins, status, submit, validate
    report = validate("submissions/my_loss.py")          # ValidationOutput (or ErrorOutput)
    if report.exit_code == 0:
        run = submit("submissions/my_loss.py", preset="tiny", tasks=["cifar100-mtl"])  # RunOutput
        board = leaderboard(results="results", preset="tiny")
        print(board.frame().query("method == 'my_loss'"))  # one row per column of the board

Each function builds the command's typed request (harness/commands/requests.py) and calls
the library function the CLI calls with the request it parsed, so both answer with the
same pydantic model (harness/outputs.py, schemas in docs/schema/; the CLI prints it with
`--json`).

- **Answers, not exceptions.** A user's error (a bad argument, a missing or broken file, an
  unknown task or plugin) is an `ErrorOutput` document, the one the CLI prints with
  `--json`: `error.kind` (`bad-input`, `submission`, `plugin`), `error.message` (the CLI's
  line) and the CLI's `exit_code`. `exit_code` is the one thing to check: 0 ok, 1 a job or
  check failed, 2 bad input or an unusable file. A harness bug still raises.
- **stdout stays the caller's.** While a function runs, file descriptor 1 points at
  stderr (and `sys.stdout` at `sys.stderr`): progress, the workers' output and anything a
  C library writes go to stderr, as with the CLI's `--json`. The redirection is
  process-wide: while a call runs, another thread's prints go to stderr too. Calls from
  several threads at once are safe (the first to start redirects, the last to end
  restores).
"""

from __future__ import annotations

import os
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from harness.api.errors import HarnessError
from harness.api.records import Protocol
from harness.commands.requests import DEFAULT_DATA, LeaderboardRequest, SubmitRequest, ValidateRequest, parse_size
from harness.outputs import (
    ErrorOutput,
    LeaderboardOutput,
    PluginsOutput,
    RunOutput,
    StatusOutput,
    ValidationOutput,
    error_kind,
    error_output,
)

R = TypeVar("R", bound=BaseModel)


def leaderboard(
    results: str | Path = "results",
    preset: str | None = None,
    final: bool = False,
    protocol: Protocol | None = None,
) -> LeaderboardOutput | ErrorOutput:
    """The board of `preset` (default smoke; `final=True`: the final evaluation's, hidden
    architectures shown) from the run records and published rows under `results`; with
    `protocol` (screening, held-out evaluation) the board of the runs under it."""

    def call() -> LeaderboardOutput:
        from harness.commands.leaderboard import leaderboard as board_of

        request = request_of(
            LeaderboardRequest, results=Path(results), preset=preset, final=final, protocol=protocol or Protocol()
        )
        return board_of(request).output

    return _answered("leaderboard", call)


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
    wait: bool = True,
    max_file_size: str | int | None = None,
) -> RunOutput | ErrorOutput:
    """Train the file on the preset's jobs (and the seed's baselines where their records are
    missing), wait, and return every job's outcome and the board: `submit` on the command
    line. `epochs`/`train_fraction` make it a screening run and `heldout` scores a validation
    split instead of the test split (ranked apart). `dry_run`: the plan, what is recorded and
    the estimated device-hours, nothing queued or trained. `wait=False` (`--no-wait`): queue
    the jobs without a record and return at once, each such job `queued` (workers run them:
    `python -m harness worker --results RESULTS`; `status(results=...)` polls); submitting
    again once they have ended returns their outcomes and the board without training."""

    def call() -> RunOutput:
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
            wait=wait,
            **_file_limit(max_file_size),
        )
        return run_submission(request).output

    return _answered("submit", call)


def validate(
    path: str | Path,
    task: str | None = None,
    sandbox: str | None = None,
    epochs: int = 5,
    steps: int = 20,
    max_file_size: str | int | None = None,
) -> ValidationOutput | ErrorOutput:
    """Run the file in the sandbox on a synthetic trajectory (loss level) or on synthetic
    conflicting gradients (gradient level): per-epoch weights or coefficients, problems,
    warnings. `exit_code` is the CLI's: 0 no problems, 1 problems, 2 the file cannot run."""

    def call() -> ValidationOutput:
        from harness.commands.validation import validate as run_validation

        request = request_of(
            ValidateRequest,
            file=Path(path),
            task=task,
            sandbox=sandbox,
            epochs=epochs,
            steps=steps,
            **_file_limit(max_file_size),
        )
        return run_validation(request).output

    return _answered("validate", call)


def status(results: str | Path = "results") -> StatusOutput | ErrorOutput:
    """The queue under `results`: its counts per state and every job's state, epoch,
    attempts and worker (`status` on the command line); poll it after `submit(...,
    wait=False)`."""

    def call() -> StatusOutput:
        from harness.commands.status import status as queue_status

        folder = Path(results)
        if folder.exists() and not folder.is_dir():  # the CLI's --results check
            raise HarnessError(f"results: {folder} is not a folder")
        return queue_status(folder).output

    return _answered("status", call)


def plugins() -> PluginsOutput | ErrorOutput:
    """Every registered task, method, method family and sandbox, loaded or broken (with its
    error), a task's losses, architectures and metrics, and each family's members per task
    (`plugins` on the command line); `exit_code` 1 when one cannot be loaded."""

    def call() -> PluginsOutput:
        from harness.commands.plugins import plugins as registered

        return registered()

    return _answered("plugins", call)


def request_of(model: type[R], **fields: Any) -> R:
    """The request, or a one-line HarnessError naming the argument that does not fit (a
    default read from the environment, $MTL_BENCH_MAX_SUBMISSION_BYTES, included)."""
    try:
        return model(**fields)
    except ValidationError as exc:
        error = exc.errors()[0]
        message = error["msg"].removeprefix("Value error, ")
        where = ".".join(str(part) for part in error["loc"])
        raise HarnessError(f"{where}: {message.lower()}" if where else message) from None
    except ValueError as exc:  # a default factory's: not wrapped by pydantic
        raise HarnessError(str(exc)) from None


def _file_limit(size: str | int | None) -> dict[str, int]:
    """`max_file_size` ('2MiB', '512KiB' or bytes) as the request's field; none: the default."""
    if size is None:
        return {}
    try:
        return {"max_file_bytes": parse_size(str(size), "max_file_size")}
    except ValueError as exc:
        raise HarnessError(str(exc)) from None


def _answered(command: str, call: Callable[[], R]) -> R | ErrorOutput:
    """The command's document, or the error document of a user's error; bugs raise."""
    with stdout_on_stderr():
        try:
            return call()
        except HarnessError as exc:
            from harness.oracle.guest.protocol import clean_text

            message = clean_text(str(exc), 4000)  # one line, as the CLI prints it
            return error_output(command, exc.exit_code, error_kind(exc), message)


_lock = threading.Lock()
_depth = 0
_saved: tuple[int | None, Any] = (None, None)


@contextmanager
def stdout_on_stderr() -> Iterator[None]:
    """File descriptor 1 and `sys.stdout` on stderr for the call, restored after: what the
    commands, their workers and C code print for people never reaches the caller's stdout.
    Process-wide; nested and concurrent calls share one redirection (the last to leave
    restores it)."""
    global _depth, _saved
    with _lock:
        if _depth == 0:
            _flush(sys.stdout)
            saved_fd = _redirect_fd()
            _saved = (saved_fd, sys.stdout)
            sys.stdout = sys.stderr
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                saved_fd, stream = _saved
                _flush(sys.stderr)
                _flush(stream)  # what was written to the caller's stream object during the call
                sys.stdout = stream
                if saved_fd is not None:
                    os.dup2(saved_fd, 1)
                    os.close(saved_fd)
                _saved = (None, None)


def _redirect_fd() -> int | None:
    """Point fd 1 at fd 2; a duplicate of the old fd 1 to restore (None: no fd 1 or 2, as
    with a closed stream: the Python level only)."""
    try:
        saved = os.dup(1)
    except OSError:
        return None
    try:
        os.dup2(2, 1)
    except OSError:
        os.close(saved)
        return None
    return saved


def _flush(stream: Any) -> None:
    try:
        stream.flush()
    except (AttributeError, OSError, ValueError):
        pass
