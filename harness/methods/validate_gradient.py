"""`runner.py validate FILE` for gradient-level files (GradientCombiner, GramCombiner):
synthetic conflicting task gradients at every step of the synthetic loss trajectory,
through the sandboxed oracle and the trainer's own checks. Per epoch it reports the cosine
between the task gradients (before), the cosine of the combined gradient with each task's
gradient (after), the effective coefficient of each task and the time per call."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import torch

from harness.api.errors import SubmissionError
from harness.api.method import StepContext
from harness.api.records import FileFormat, TrainConfig
from harness.api.sandbox import OracleLimits, Sandbox
from harness.methods.gradient_level import check_coefficients, check_direction, effective_coefficients
from harness.methods.validate import synthetic_trajectory
from harness.oracle.gradient_client import OracleGradientRunner

WIDTH = 512  # parameters of the synthetic shared trunk


@dataclass
class GradientReport:
    loss_names: tuple[str, ...]
    level: FileFormat
    steps: list[dict] = field(default_factory=list)  # epoch, before, after, coefficients, ms
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error_details: str = ""

    def table(self) -> pd.DataFrame:
        frame = pd.DataFrame(
            [
                {
                    "epoch": s["epoch"],
                    "cos before": s["before"],
                    **{f"cos after {n}": c for n, c in zip(self.loss_names, s["after"])},
                    **{f"coef {n}": c for n, c in zip(self.loss_names, s["coefficients"])},
                    "ms": s["ms"],
                }
                for s in self.steps
            ]
        )
        return frame.groupby("epoch").mean()


def synthetic_gradients(task_count: int, epoch: int, step: int) -> torch.Tensor:
    """(T, WIDTH) task gradients whose first two conflict more as training goes on (cosine
    from about -0.2 to -0.8), with norms a few times apart, as in a real multi-task run."""
    generator = torch.Generator().manual_seed(1000 * epoch + step)
    grads = torch.randn(task_count, WIDTH, generator=generator)
    grads = grads / grads.norm(dim=1, keepdim=True)
    if task_count >= 2:
        conflict = min(0.2 + 0.15 * epoch, 0.8)
        grads[1] = -conflict * grads[0] + math.sqrt(1 - conflict**2) * grads[1]
    scales = torch.tensor([1.0 + 2.0 * (i % 2) for i in range(task_count)])
    return grads * scales[:, None]


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    return float(torch.dot(a, b) / (a.norm() * b.norm()).clamp_min(1e-20))


def validate_gradient(
    path: Path,
    loss_names: tuple[str, ...],
    sandbox: Sandbox,
    limits: OracleLimits,
    level: FileFormat,
    epochs: int = 5,
    steps_per_epoch: int = 20,
) -> GradientReport:
    report = GradientReport(loss_names, level)
    config = TrainConfig(epochs=epochs)
    try:
        runner = OracleGradientRunner(path, loss_names, config, sandbox, limits, level)
    except SubmissionError as exc:
        report.problems.append(str(exc))
        report.error_details = exc.details
        return report
    try:
        runner.attach(WIDTH, seed=0)
        for index, (epoch, values) in enumerate(synthetic_trajectory(loss_names, epochs, steps_per_epoch)):
            grads = synthetic_gradients(len(loss_names), epoch, index)
            inputs = grads if level == "gradient" else grads.double() @ grads.double().T
            lr = 0.5 * config.lr * (1 + math.cos(math.pi * epoch / epochs))
            started = time.perf_counter()
            kind, answer = runner.combine(inputs, values, StepContext(epoch, epochs, lr), index)
            elapsed = 1000 * (time.perf_counter() - started)
            norms = grads.norm(dim=1).double()
            if kind == "coefficients":
                check_coefficients(answer.double(), norms, epoch)
                direction, coefficients = answer.to(grads.dtype) @ grads, answer
            else:
                check_direction(float(answer.double().norm()), norms, epoch)
                direction, coefficients = answer, effective_coefficients(grads, answer)
            pairs = [(i, j) for i in range(len(grads)) for j in range(i + 1, len(grads))]
            report.steps.append(
                {
                    "epoch": epoch,
                    "before": sum(_cosine(grads[i], grads[j]) for i, j in pairs) / max(len(pairs), 1),
                    "after": [_cosine(direction, g) for g in grads],
                    "coefficients": coefficients.tolist(),
                    "ms": elapsed,
                }
            )
    except SubmissionError as exc:
        report.problems.append(str(exc))
        report.error_details = exc.details
    finally:
        runner.close()
    _judge(report)
    return report


def _judge(report: GradientReport) -> None:
    if not report.steps:
        return
    if all(all(c == 0.0 for c in s["coefficients"]) for s in report.steps):
        report.problems.append("the combined gradient is zero at every step: the shared trunk would not learn")
    for i, name in enumerate(report.loss_names):
        worse = sum(1 for s in report.steps if s["after"][i] < 0)
        if worse:
            report.warnings.append(
                f"the combined gradient points against task {name}'s at {worse} of {len(report.steps)} steps"
            )
