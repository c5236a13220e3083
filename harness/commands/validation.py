"""`validate FILE`: the file in its sandbox on a synthetic loss trajectory (loss level) or on
synthetic conflicting gradients (gradient level), in seconds: per-epoch weights or
coefficients, problems and warnings (`ValidationOutput`)."""

from __future__ import annotations

import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.api.errors import HarnessError
from harness.commands.requests import ValidateRequest
from harness.outputs import ErrorDetail, ValidationEpoch, ValidationOutput


@dataclass(frozen=True)
class ValidationAnswer:
    output: ValidationOutput
    report: Any  # the method's own report: ValidationReport or GradientReport (the CLI's tables)


def validate(request: ValidateRequest) -> ValidationAnswer:
    """The document, and the method's own report for the CLI's tables."""
    from harness import registry
    from harness.api.sandbox import OracleLimits
    from harness.methods.validate import validate as validate_loss
    from harness.methods.validate_gradient import validate_gradient
    from harness.oracle.choose import choose_sandbox

    names = registry.tasks.names()
    chosen = registry.tasks.get(request.task or (names[0] if names else ""))
    epochs, steps, path = request.epochs, request.steps, request.file
    if epochs < 1 or steps < 1:
        raise HarnessError("--epochs and --steps must be at least 1")
    if path.is_file():  # over the limit: one line, before anything reads the rest or parses it
        from harness.submission_store import read_bounded

        read_bounded(path, request.max_file_bytes)
    backend = choose_sandbox(request.sandbox, warn=lambda text: print(text, file=sys.stderr))
    level = file_format(path)
    started = time.perf_counter()
    if level == "loss":
        report: Any = validate_loss(path, chosen.loss_names, backend, OracleLimits(), epochs, steps)
    else:
        report = validate_gradient(path, chosen.loss_names, backend, OracleLimits(), level, epochs, steps)  # type: ignore[arg-type]
    output = validation_output(path, level, backend.name, started, report)
    ran = bool(report.steps)
    output.exit_code = 0 if not report.problems else (1 if ran else 2)
    if output.exit_code == 2:  # the file cannot run: the error every document of exit code 2 carries
        output.error = ErrorDetail(kind="submission", message=report.problems[0])
    return ValidationAnswer(output, report)


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
