"""One epoch of training: its steps, its one transfer to the host and its checks, on the
state that lives across epochs. `trainer.train` sets that state up and loops over this."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import torch

from harness.api.errors import HarnessError, SubmissionError
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.precision import autocast as bf16_autocast
from harness.api.records import EpochLog, TrainConfig
from harness.api.task import Task, TaskData
from harness.api.transfer import to_host, wait_for_device

StepCallback = Callable[[int, int], None]


class MethodFailed(Exception):
    """The method's `error` ends the run, the finished epochs kept. Raised only where the
    method is asked (`method_call`) and when the run diverges: a SubmissionError from
    anywhere else (a task, a callback) still propagates out of `train`."""

    def __init__(self, error: SubmissionError) -> None:
        super().__init__(str(error))
        self.error = error


@contextmanager
def method_call() -> Iterator[None]:
    """Marks a call into the method: its SubmissionError becomes MethodFailed."""
    try:
        yield
    except SubmissionError as exc:
        raise MethodFailed(exc) from exc


@dataclass
class Training:
    """What lives across epochs, and what a checkpoint saves and restores."""

    task: Task
    config: TrainConfig
    device: torch.device
    data: TaskData
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    combiner: Combiner
    generator: torch.Generator  # the data order's stream
    mixed: bool  # bf16 autocast

    @property
    def steps_per_epoch(self) -> int:
        """For the step callback's progress: the last batch may be smaller."""
        return -(-self.data.train_size // self.config.batch_size)


@dataclass(frozen=True)
class Stages:
    """A task's single-task stage (`Task.pretraining`): its first `method_start` epochs
    train the losses at `alone_losses` without the method; the method then sees a run of
    the remaining epochs that starts at its own epoch 0."""

    epochs: int
    method_start: int = 0
    alone_losses: tuple[int, ...] = ()

    @classmethod
    def of(cls, task: Task, config: TrainConfig) -> Stages:
        """The task's stages for `config`; HarnessError if the method would get no epoch."""
        pretraining = task.pretraining(config)
        if pretraining is None:
            return cls(config.epochs)
        if not (0 < pretraining.epochs < config.epochs and pretraining.losses):
            raise HarnessError(
                f"{task.name}: a single-task stage of {pretraining.epochs} of {config.epochs} epochs on losses "
                f"{pretraining.losses} leaves the method nothing to train"
            )
        return cls(config.epochs, pretraining.epochs, pretraining.losses)

    def alone(self, epoch: int) -> tuple[int, ...] | None:
        """The losses trained without the method in `epoch`; None: the method's epoch."""
        return self.alone_losses if epoch < self.method_start else None

    def context(self, epoch: int, lr: float, reuse_task_gradients: bool) -> StepContext:
        """What the method is told about `epoch`, counted from its own start."""
        return StepContext(epoch - self.method_start, self.epochs - self.method_start, lr, reuse_task_gradients)


def parameter_check(model: torch.nn.Module) -> torch.Tensor:
    """A float64 scalar on the device, finite exactly when every parameter is: the sum of
    each parameter's largest magnitude (one fused reduction, no wait; it travels with the
    epoch's sums)."""
    largest = torch._foreach_norm([p.detach() for p in model.parameters()], math.inf)
    return torch.stack([value.double() for value in largest]).sum()


@dataclass
class EpochSums:
    """The epoch's sums on the host."""

    losses: torch.Tensor
    weights: torch.Tensor
    extras: dict[str, float]
    parameters: float  # parameter_check's value


def divergence(epoch: int, sums: EpochSums) -> SubmissionError | None:
    """The run's failure if training diverged: a non-finite parameter, task loss or task
    weight. Every check of the method's answers can pass (a weight of 3e38 is finite in
    float32) while the update drives the model to inf/NaN: such a run must fail, not end
    `ok` with NaN metrics."""
    if not math.isfinite(sums.parameters):
        what = "the model's parameters are not finite (the method's weights drove them to inf/NaN)"
    elif not bool(torch.isfinite(sums.losses).all()):
        what = "the task losses are not finite"
    elif not bool(torch.isfinite(sums.weights).all()):
        what = "the method's task weights are not finite"
    else:
        return None
    details = f"epoch sums: losses {sums.losses.tolist()}, task weights {sums.weights.tolist()}"
    return SubmissionError(f"training diverged at epoch {epoch}: {what}", details)


def _as_tensor(weights: list[float] | torch.Tensor) -> torch.Tensor:
    if isinstance(weights, torch.Tensor):
        return weights.detach().to(torch.float64)
    return torch.tensor(weights, dtype=torch.float64)


@dataclass
class EpochTotals:
    """The epoch's running sums, kept where each step makes them (the losses on the
    device, the weights on the device the method reports on), so that adding a step never
    waits; `on_host` brings them over once, at the epoch's end."""

    losses: torch.Tensor
    weights: torch.Tensor | None = None
    extras: dict[str, float | torch.Tensor] = field(default_factory=dict)
    steps: int = 0

    @classmethod
    def zeros(cls, task_count: int, device: torch.device) -> EpochTotals:
        return cls(torch.zeros(task_count, dtype=torch.float64, device=device))

    def add(self, losses: list[torch.Tensor], result: StepResult) -> None:
        """Add one step's task losses and the method's report on it."""
        self.losses += torch.stack([loss.detach().double() for loss in losses])
        weights = _as_tensor(result.weights)
        self.weights = weights if self.weights is None else self.weights + weights
        for key, value in result.extras.items():
            self.extras[key] = self.extras.get(key, 0.0) + value
        self.steps += 1

    def mean(self, values: torch.Tensor) -> list[float]:
        return (values / max(self.steps, 1)).tolist()

    def on_host(self, parameters: torch.Tensor) -> EpochSums:
        """The sums and `parameters` (parameter_check's value) on the host; what is on
        the device comes over in one transfer."""
        named = {
            "losses": self.losses,
            "weights": torch.zeros(self.losses.shape[0], dtype=torch.float64),
            "parameters": parameters.reshape(1),
        }
        if self.weights is not None:
            named["weights"] = self.weights
        tensors = [key for key, value in self.extras.items() if isinstance(value, torch.Tensor)]
        named.update(
            {f"extra {key}": torch.as_tensor(self.extras[key]).detach().double().reshape(1) for key in tensors}
        )
        host = {key: value for key, value in named.items() if value.device.type == "cpu"}
        remote = {key: value for key, value in named.items() if value.device.type != "cpu"}
        if remote:
            fetched = to_host(torch.cat([value.reshape(-1) for value in remote.values()]), "epoch")
            host.update(zip(remote, fetched.split([value.numel() for value in remote.values()])))
        extras = {key: float(value) for key, value in self.extras.items() if not isinstance(value, torch.Tensor)}
        extras.update({key: float(host[f"extra {key}"]) for key in tensors})
        return EpochSums(host["losses"], host["weights"], extras, float(host["parameters"]))


def _train_alone(losses: list[torch.Tensor], alone: tuple[int, ...]) -> StepResult:
    """Backward through the sum of the losses at `alone`; the others get weight 0."""
    total = losses[alone[0]]
    for index in alone[1:]:
        total = total + losses[index]
    total.backward()
    return StepResult(total=total.detach(), weights=[1.0 if index in alone else 0.0 for index in range(len(losses))])


def _step(
    training: Training,
    inputs: torch.Tensor,
    targets: tuple[torch.Tensor, ...],
    context: StepContext,
    alone: tuple[int, ...] | None,
) -> tuple[list[torch.Tensor], StepResult]:
    """One optimizer step on one batch; the task losses and what the method reported."""
    task, config, model, device = training.task, training.config, training.model, training.device
    with bf16_autocast(device.type, training.mixed):
        outputs = model(inputs)
    losses = task.losses(outputs, targets, config)
    training.optimizer.zero_grad(set_to_none=True)
    if alone is not None:  # the single-task stage: the method is not asked
        result = _train_alone(losses, alone)
    else:
        with method_call():
            result = training.combiner.backward(losses, context)
    training.optimizer.step()
    if alone is None and training.combiner.wants_losses_after_step:
        with torch.no_grad(), bf16_autocast(device.type, training.mixed):
            training.combiner.after_step(task.losses(model(inputs), targets, config))
    return losses, result


def run_epoch(training: Training, stages: Stages, epoch: int, on_step: StepCallback | None = None) -> EpochLog:
    """Train and evaluate `epoch`. MethodFailed if the method fails or the run diverges;
    per step at most one wait and one copy back (the method's), then one transfer for the
    whole epoch."""
    task, model, device = training.task, training.model, training.device
    started = time.perf_counter()
    lr = training.optimizer.param_groups[0]["lr"]
    context = stages.context(epoch, lr, training.config.reuse_task_gradients)
    alone = stages.alone(epoch)
    totals = EpochTotals.zeros(len(task.loss_names), device)
    model.train()
    for inputs, targets in training.data.train_batches(training.generator):
        totals.add(*_step(training, inputs, targets, context, alone))
        if on_step is not None:
            on_step(totals.steps, training.steps_per_epoch)
    training.scheduler.step()
    wait_for_device(device)  # a method with no wait per step leaves the device behind the host
    with method_call():  # what the oracle's own processes did between calls counts too
        training.combiner.check_limits(epoch - stages.method_start)
    train_seconds = time.perf_counter() - started
    sums = totals.on_host(parameter_check(model))
    if (diverged := divergence(epoch, sums)) is not None:  # the epochs before it are kept
        raise MethodFailed(diverged)
    metrics = task.evaluate(model, training.data, training.mixed)
    metrics.update({key: value / max(totals.steps, 1) for key, value in sums.extras.items()})
    return EpochLog(
        epoch=epoch,
        lr=lr,
        train_losses=dict(zip(task.loss_names, totals.mean(sums.losses))),
        task_weights=dict(zip(task.loss_names, totals.mean(sums.weights))),
        test_metrics=metrics,
        seconds=time.perf_counter() - started,
        images_per_second=training.data.train_size / max(train_seconds, 1e-9),
    )
