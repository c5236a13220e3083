"""Gradient-level submissions on the trainer's side: the per-task gradients of the shared
parameters go to the sandboxed oracle, its answer comes back and is checked before it
touches a parameter.

The answer sets only the shared parameters' gradient (coefficients c: sum_i c_i g_i); each
head keeps its own task's gradient, unscaled (LibMTL's convention for gradient methods).
Checks (beyond the protocol's: shape, finite): the shared gradient's norm may be at most
MAX_GAIN times the sum of the task gradients' norms (a coefficient answer: sum_i |c_i|
||g_i|| at most that, and no |c_i| above MAX_COEFFICIENT, so a coefficient on a zero
gradient cannot overflow float32). Comparisons are made so that NaN fails. The effective per-task coefficients are recorded in the same units
as every other method: the answer's coefficients, or for a (P,) direction d the
least-squares c with G^T c ~ d.
"""

from __future__ import annotations

import torch
from torch import nn

from harness.api.errors import SubmissionError
from harness.api.gradients import METHOD_STREAM, Direction, SharedGradientCombiner
from harness.api.method import StepContext
from harness.api.seeds import stream_seed
from harness.api.transfer import to_device, to_host
from harness.oracle.gradient_client import OracleGradientRunner

MAX_GAIN = 100.0
MAX_COEFFICIENT = 1e6


def check_direction(shared_norm: float, task_norms: torch.Tensor, epoch: int) -> None:
    bound = MAX_GAIN * float(task_norms.sum()) + 1e-12
    if not shared_norm <= bound:  # NaN fails too
        raise SubmissionError(
            f"the combined gradient's norm {shared_norm:.4g} at epoch {epoch} exceeds {MAX_GAIN:g} times the sum "
            f"of the task gradients' norms ({bound:.4g})"
        )


def check_coefficients(coefficients: torch.Tensor, task_norms: torch.Tensor, epoch: int) -> None:
    largest = float(coefficients.abs().max())
    if not largest <= MAX_COEFFICIENT:
        raise SubmissionError(f"a coefficient of {largest:.4g} at epoch {epoch} exceeds the bound {MAX_COEFFICIENT:g}")
    check_direction(float((coefficients.abs() * task_norms).sum()), task_norms, epoch)


class GradientLevelCombiner(SharedGradientCombiner):
    """A GradientCombiner or GramCombiner submission running in the oracle."""

    def __init__(self, runner: OracleGradientRunner) -> None:
        super().__init__()
        self.runner = runner
        self.steps = 0

    def attach(self, model: nn.Module, seed: int) -> None:
        super().attach(model, seed)
        self.runner.attach(sum(p.numel() for p in self.shared), stream_seed(seed, METHOD_STREAM))

    def direction(self, losses: list[torch.Tensor], grads: torch.Tensor | None, context: StepContext) -> Direction:
        assert grads is not None
        count = len(losses)
        # the step's one wait: loss values, task-gradient norms (taken in float64: no
        # underflow) and the gradients (float32) or their Gram matrix (float64)
        dtype = torch.float32 if self.runner.file_format == "gradient" else torch.float64
        if self.runner.file_format == "gradient":
            table = grads.reshape(-1)
        else:
            table = (grads.double() @ grads.double().T).reshape(-1)
        losses_and_norms = torch.cat([torch.stack([loss.detach() for loss in losses]), grads.double().norm(dim=1)])
        host = to_host(torch.cat([losses_and_norms.to(dtype), table.to(dtype)]), "step")
        values, norms = host[:count], host[count : 2 * count].double()
        inputs = host[2 * count :].reshape(count, -1)
        kind, answer = self.runner.combine(inputs, values.tolist(), context, self.steps)
        self.steps += 1
        if kind == "coefficients":
            check_coefficients(answer, norms, context.epoch)
            coefficients = to_device(answer.to(grads.dtype), grads)
            return Direction(coefficients @ grads, None, coefficients)
        check_direction(float(answer.double().norm()), norms, context.epoch)
        shared = to_device(answer.to(grads.dtype), grads)
        return Direction(shared, None, effective_coefficients(grads, shared))

    def state(self) -> object:
        return {"steps": self.steps, "combiner": self.runner.get_state()}

    def load_state(self, state: object) -> None:
        assert isinstance(state, dict)
        self.steps = int(state["steps"])
        self.runner.set_state(state["combiner"])

    def check_limits(self, epoch: int) -> None:
        self.runner.check_budget(f"epoch {epoch}, between calls")

    def close(self) -> None:
        self.runner.close()

    @property
    def sandbox(self) -> str:
        return self.runner.sandbox


def effective_coefficients(grads: torch.Tensor, shared: torch.Tensor) -> torch.Tensor:
    """The c with G^T c closest to `shared` (least squares through the Gram matrix), on the
    device without a wait: what a (P,) answer amounts to per task, for the record."""
    gram = grads.double() @ grads.double().T
    ridge = 1e-8 * gram.diagonal().sum().clamp_min(1e-30)  # nearly collinear gradients: no 1e12 coefficients
    eye = torch.eye(len(grads), dtype=gram.dtype, device=gram.device)
    solution, _ = torch.linalg.solve_ex(gram + ridge * eye, grads.double() @ shared.double())
    return solution.float()
