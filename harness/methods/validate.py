"""`runner.py validate FILE`: a quick check of a submission in the oracle against a
synthetic loss trajectory, with the effective weight per task and every problem found."""

from __future__ import annotations

import ast
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from harness.api.errors import SubmissionError
from harness.api.method import StepContext
from harness.api.records import TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.loss_level import check_weights, submission_errors
from harness.oracle.client import OracleClient
from harness.oracle.guest.gradient import graph_walking, graph_walking_message
from harness.oracle.guest.loader import CLASS_NAME, check_syntax, parse_tree, read_source

SLOW_CALL_MS = 5.0


@dataclass
class ValidationReport:
    loss_names: tuple[str, ...]
    steps: list[dict] = field(default_factory=list)  # epoch, step, values, weights, total, ms
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_details: str = ""

    def weight_table(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            [
                {
                    "epoch": s["epoch"],
                    **{f"w {n}": w for n, w in zip(self.loss_names, s["weights"])},
                    **{f"loss {n}": v for n, v in zip(self.loss_names, s["values"])},
                    "total": s["total"],
                }
                for s in self.steps
            ]
        )
        return frame.groupby("epoch").mean()


def synthetic_trajectory(
    loss_names: tuple[str, ...], epochs: int, steps_per_epoch: int
) -> list[tuple[int, list[float]]]:
    """Task losses decaying like a real run (fine from 4.6, coarse from 3.0), with a
    deterministic wobble, as (epoch, values) per step."""
    starts = [4.6, 3.0, 2.0, 1.5]
    trajectory = []
    for epoch in range(epochs):
        for step in range(steps_per_epoch):
            progress = (epoch * steps_per_epoch + step) / (epochs * steps_per_epoch)
            values = []
            for i, _ in enumerate(loss_names):
                start = starts[i % len(starts)]
                wobble = 0.05 * math.sin(7.0 * step + 3.0 * i)
                values.append(float(start * (0.25 + 0.75 * math.exp(-3 * progress)) + wobble))
            trajectory.append((epoch, values))
    return trajectory


def _static_checks(path: Path) -> tuple[str, list[str]]:
    """The file's source (read once, within the size limit) and the warnings its syntax
    tree gives; SubmissionError if it cannot be read or parsed."""
    with submission_errors():
        source, _ = read_source(path)
        check_syntax(path, source)
        tree = parse_tree(path, source)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef) and node.name == CLASS_NAME]
    if not classes:
        return source, [f"no top-level class {CLASS_NAME} is defined (it may still be created dynamically)"]
    methods = {n.name for n in classes[0].body if isinstance(n, ast.FunctionDef)}
    return source, [] if "forward" in methods else [f"{CLASS_NAME} defines no forward method"]


def validate(
    path: Path,
    loss_names: tuple[str, ...],
    sandbox: Sandbox,
    limits: OracleLimits,
    epochs: int = 5,
    steps_per_epoch: int = 20,
) -> ValidationReport:
    report = ValidationReport(loss_names)
    source, warnings = _static_checks(path)
    report.warnings += warnings
    walking = graph_walking(source)
    if walking is not None:
        report.problems.append(graph_walking_message(path.name, *walking))
        return report
    config = TrainConfig(epochs=epochs)
    try:
        runner = OracleClient(path, loss_names, config, sandbox, limits)
    except SubmissionError as exc:
        report.problems.append(str(exc))
        report.error_details = exc.details
        return report
    try:
        for index, (epoch, values) in enumerate(synthetic_trajectory(loss_names, epochs, steps_per_epoch)):
            lr = 0.5 * config.lr * (1 + math.cos(math.pi * epoch / epochs))
            started = time.perf_counter()
            result = runner(values, StepContext(epoch, epochs, lr))
            check_weights(values, result.weights, epoch)  # the trainer's bound, so a run would fail too
            report.steps.append(
                {
                    "epoch": epoch,
                    "step": index,
                    "values": values,
                    "weights": result.weights,
                    "total": float(result.total),
                    "ms": 1000 * (time.perf_counter() - started),
                }
            )
    except SubmissionError as exc:
        report.problems.append(str(exc))
        report.error_details = exc.details
    finally:
        runner.close()
    _judge(report)
    return report


def _judge(report: ValidationReport) -> None:
    if not report.steps:
        return
    weights = [s["weights"] for s in report.steps]
    if all(all(w == 0.0 for w in row) for row in weights):
        report.problems.append("the output has no gradient to any task loss: the model would not learn")
    else:
        for i, name in enumerate(report.loss_names):
            if all(row[i] == 0.0 for row in weights):
                report.problems.append(f"task {name} has weight 0 at every step: its loss never trains the model")
    for i, name in enumerate(report.loss_names):
        if any(row[i] < 0 for row in weights):
            report.warnings.append(f"task {name} gets a negative weight at some steps (gradient ascent on its loss)")
    median_ms = statistics.median(s["ms"] for s in report.steps)
    if median_ms > SLOW_CALL_MS:
        report.problems.append(
            f"too slow: a call takes {median_ms:.1f} ms (median); keep it under {SLOW_CALL_MS:.0f} ms, "
            "since it runs at every training step"
        )


def plot_weights(report: ValidationReport, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7, 3.5))
    for i, name in enumerate(report.loss_names):
        axis.plot([s["step"] for s in report.steps], [s["weights"][i] for s in report.steps], label=name)
    axis.set_xlabel("step of the synthetic trajectory")
    axis.set_ylabel("d total / d loss")
    axis.set_title("effective task weights")
    axis.legend()
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=100)
    plt.close(figure)
