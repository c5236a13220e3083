"""Gradient-level submissions: the class a file defines states its format.

- `GradientCombiner.combine(grads, losses, epoch, total_epochs, step)` gets the per-task
  gradients of the shared parameters as one (T, P) float32 tensor and returns either the
  shared parameters' gradient (P,) or per-task coefficients (T,).
- `GramCombiner.combine(gram, losses, epoch, total_epochs, step)` gets only their (T, T)
  Gram matrix (float64: cheap, and enough for MGDA, Nash-MTL, IMTL-G, Aligned-MTL and
  CAGrad's weights) and returns coefficients (T,).

Coefficients c give the shared parameters sum_i c_i g_i; a (P,) answer is their gradient
itself. Each head always gets its own task's gradient, unscaled. `__init__` may take `seed` (the job's seed for the method's
own random stream, derived apart from the data order's) and `task_count`. This module is
part of the guest package: it runs in the sandbox for a submission, in the trainer's
process only for the harness's own trusted files, and its errors are SubmissionFault.
"""

from __future__ import annotations

import ast
import inspect
import math
from pathlib import Path
from typing import Any, Literal

import torch

from .codec import UnsupportedState, decode, encode
from .loader import PARSE_ERRORS, SubmissionFault, _describe, _import_module, read_source, submission_traceback

Format = Literal["loss", "gradient", "gram"]
CLASSES: dict[str, Format] = {"MultiTaskLoss": "loss", "GradientCombiner": "gradient", "GramCombiner": "gram"}
INIT_ARGS = ("seed", "task_count")


def declared_format(path: Path, source: str) -> Format:
    """The format the file states by the class it defines, read from its syntax tree (no
    code runs): exactly one of MultiTaskLoss, GradientCombiner or GramCombiner."""
    try:
        tree = ast.parse(source, str(path))
    except PARSE_ERRORS:
        return "loss"  # the loader's syntax check reports it
    found = [node.name for node in tree.body if isinstance(node, ast.ClassDef) and node.name in CLASSES]
    names = sorted(set(found))
    if len(names) > 1:
        raise SubmissionFault(f"{path.name} defines {' and '.join(names)}; a file defines exactly one of them")
    return CLASSES[names[0]] if names else "loss"


GRAPH_WALKING = ("grad_fn", "next_functions", "register_hook")


def graph_walking(source: str) -> tuple[str, int] | None:
    """The first construct by which a MultiTaskLoss reaches for gradients (the seed's PCGrad
    walks `fine_loss.grad_fn` to the model's parameters; `torch.autograd.grad`), and its line.
    In the oracle a loss only has detached values, so such a file cannot work there."""
    try:
        tree = ast.parse(source)
    except PARSE_ERRORS:
        return None
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and node.attr in GRAPH_WALKING:
            found.append((node.lineno, f".{node.attr}"))
        elif (
            isinstance(node, ast.Attribute)
            and node.attr == "grad"
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "autograd"
        ):
            found.append((node.lineno, "torch.autograd.grad"))
    if not found:
        return None
    line, what = min(found)
    return what, line


def graph_walking_message(name: str, what: str, line: int) -> str:
    return (
        f"{name} reaches for gradients ({what}, line {line}), but a MultiTaskLoss only sees loss values in the "
        "sandbox: write it as a GradientCombiner (per-task gradients of the shared parameters in, the shared "
        "gradient or per-task coefficients out); see submissions/example_gradient.py"
    )


def load_combiner_class(path: Path, level: Format) -> tuple[type, str]:
    """The file's GradientCombiner or GramCombiner class and the file's sha256."""
    source, sha256 = read_source(path)
    module = _import_module(path, source, sha256)
    name = next(name for name, fmt in CLASSES.items() if fmt == level)
    combiner_class = getattr(module, name, None)
    if not isinstance(combiner_class, type):
        raise SubmissionFault(f"{path.name} defines no class named {name}")
    if not callable(getattr(combiner_class, "combine", None)):
        raise SubmissionFault(f"{path.name}: {name} has no method combine(...)")
    return combiner_class, sha256


def instantiate_combiner(combiner_class: type, path: Path, seed: int, task_count: int) -> Any:
    """`combiner_class(**the of seed/task_count its __init__ names)`."""
    try:
        parameters = inspect.signature(combiner_class).parameters
    except (TypeError, ValueError):
        parameters = {}  # type: ignore[assignment]
    given = {"seed": seed, "task_count": task_count}
    kwargs = {name: given[name] for name in INIT_ARGS if name in parameters}
    try:
        return combiner_class(**kwargs)
    except BaseException as exc:
        if isinstance(exc, KeyboardInterrupt):
            raise
        raise SubmissionFault(
            f"{combiner_class.__name__}() raised {_describe(exc, path)}", submission_traceback(exc, path)
        ) from None


class GradientRunner:
    """One GradientCombiner or GramCombiner instance: calls `combine` and checks the shape
    and values of its answer (the trainer checks them again, and the norm bound)."""

    def __init__(self, combiner_class: type, path: Path, level: Format, seed: int, task_count: int) -> None:
        self.path, self.level, self.task_count = path, level, task_count
        self.name = combiner_class.__name__
        self.instance = instantiate_combiner(combiner_class, path, seed, task_count)

    def combine(
        self, inputs: torch.Tensor, losses: list[float], epoch: int, total_epochs: int, step: int
    ) -> torch.Tensor:
        """The answer: (P,) or (T,) for gradients in, (T,) for a Gram matrix in."""
        loss_tensor = torch.tensor(losses, dtype=torch.float32)
        try:
            answer = self.instance.combine(inputs, loss_tensor, epoch, total_epochs, step)
        except BaseException as exc:
            if isinstance(exc, KeyboardInterrupt):
                raise
            raise SubmissionFault(
                f"{self.name}.combine raised {_describe(exc, self.path)} at epoch {epoch}",
                submission_traceback(exc, self.path),
            ) from None
        return check_answer_shape(answer, self.level, self.task_count, inputs.shape[-1], epoch, self.name)

    def get_state(self) -> object:
        try:
            return encode(vars(self.instance), "the combiner's attributes")
        except UnsupportedState as exc:
            raise SubmissionFault(str(exc)) from None

    def set_state(self, state: object) -> None:
        for key, value in decode(state).items():
            setattr(self.instance, key, value)


def check_answer_shape(
    answer: object, level: Format, task_count: int, width: int, epoch: int, name: str
) -> torch.Tensor:
    """A finite float tensor of shape (P,) or (T,) ((T,) only for the Gram level), detached
    and contiguous in float32, or a SubmissionFault that says what came back."""
    if not isinstance(answer, torch.Tensor):
        raise SubmissionFault(f"{name}.combine returned {type(answer).__name__} at epoch {epoch}; expected a tensor")
    shapes = [(task_count,)] if level == "gram" else [(width,), (task_count,)]
    if tuple(answer.shape) not in shapes:
        wanted = " or ".join(str(shape) for shape in shapes)
        raise SubmissionFault(
            f"{name}.combine returned shape {tuple(answer.shape)} at epoch {epoch}; expected {wanted}"
        )
    if not answer.dtype.is_floating_point:
        raise SubmissionFault(f"{name}.combine returned {answer.dtype} at epoch {epoch}; expected a float tensor")
    answer = answer.detach().to(torch.float32).contiguous()
    if not bool(torch.isfinite(answer).all()):
        raise SubmissionFault(f"{name}.combine returned a non-finite value at epoch {epoch}")
    return answer


def conflicting_gradients(task_count: int, width: int, seed: int = 0) -> torch.Tensor:
    """(T, P) gradients whose first two rows conflict (negative inner product): the probe's
    and `validate`'s input."""
    generator = torch.Generator().manual_seed(seed)
    grads = torch.randn(task_count, width, generator=generator)
    if task_count >= 2:
        grads[1] = -0.6 * grads[0] + 0.8 * grads[1]
    return grads


def probe(combiner_class: type, path: Path, level: Format, task_count: int) -> None:
    """Call a fresh instance at the first and the last epoch on conflicting gradients."""
    runner = GradientRunner(combiner_class, path, level, 0, task_count)
    for epoch, losses in ((0, [4.6, 3.0]), (9, [1.2, 0.8])):
        grads = conflicting_gradients(task_count, 64, epoch)
        inputs = grads.double() @ grads.double().T if level == "gram" else grads
        answer = runner.combine(inputs, [losses[i % 2] for i in range(task_count)], epoch, 10, epoch)
        if not math.isfinite(float(answer.abs().sum())):
            raise SubmissionFault(f"{runner.name}.combine returned a non-finite value at epoch {epoch}")
