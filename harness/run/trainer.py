"""The trusted trainer: task-agnostic, it owns the model, the data, the optimizer and the
schedule, and asks a combiner how to turn the task losses into gradients."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from harness.api.errors import HarnessError, SubmissionError
from harness.api.method import Combiner, StepContext, StepResult
from harness.api.precision import autocast as bf16_autocast
from harness.api.precision import mixed_precision
from harness.api.records import EpochLog, TrainConfig
from harness.api.task import Task
from harness.api.transfer import to_host, wait_for_device
from harness.oracle.client import StateUnavailable
from harness.oracle.guest.codec import UnsupportedState, decode, encode
from harness.run.checkpoint import CheckpointError, TrainingState, load_checkpoint, save_checkpoint
from harness.run.seeding import device_rng_state, restore_device_rng, seed_everything

EpochCallback = Callable[[EpochLog], None]
StepCallback = Callable[[int, int], None]


@dataclass
class TrainOutcome:
    epochs: list[EpochLog] = field(default_factory=list)
    error: SubmissionError | None = None
    resumed_from: int | None = None  # epochs restored from a checkpoint
    notes: list[str] = field(default_factory=list)


def _restore(
    path: Path,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    combiner: Combiner,
    device: torch.device,
    outcome: TrainOutcome,
) -> int:
    """Load `path` into the training objects; the number of finished epochs (0 if none)."""
    if not path.is_file():
        return 0
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        outcome.notes.append(f"checkpoint ignored, training from the start: {exc}")
        return 0
    model.load_state_dict(state.model)
    optimizer.load_state_dict(state.optimizer)
    scheduler.load_state_dict(state.scheduler)
    generator.set_state(state.data_generator)
    torch.set_rng_state(state.torch_rng)
    restore_device_rng(device, state.cuda_rng)
    if state.combiner is not None:
        combiner.load_state(decode(state.combiner))
    if state.combiner_tensors:
        combiner.load_tensor_state({k: v.to(device) for k, v in state.combiner_tensors.items()})
    outcome.epochs = list(state.epochs)
    outcome.resumed_from = state.epoch
    return state.epoch


def _save(
    path: Path,
    epoch: int,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    generator: torch.Generator,
    combiner: Combiner,
    device: torch.device,
    outcome: TrainOutcome,
) -> bool:
    try:
        combiner_state = encode(combiner.state(), "the method's state")
    except (StateUnavailable, UnsupportedState) as exc:
        outcome.notes.append(f"no checkpoints: the loss state cannot be saved ({exc})")
        return False
    save_checkpoint(
        path,
        TrainingState(
            epoch=epoch,
            model=model.state_dict(),
            optimizer=optimizer.state_dict(),
            scheduler=scheduler.state_dict(),
            data_generator=generator.get_state(),
            torch_rng=torch.get_rng_state(),
            cuda_rng=device_rng_state(device),
            epochs=outcome.epochs,
            combiner=combiner_state,
            combiner_tensors=combiner.tensor_state(),
        ),
    )
    return True


def _mean(values: torch.Tensor, steps: int) -> list[float]:
    return (values / max(steps, 1)).tolist()


def _as_tensor(weights: list[float] | torch.Tensor) -> torch.Tensor:
    if isinstance(weights, torch.Tensor):
        return weights.detach().to(torch.float64)
    return torch.tensor(weights, dtype=torch.float64)


def _train_alone(losses: list[torch.Tensor], alone: tuple[int, ...]) -> StepResult:
    """Backward through the sum of the losses at `alone`; the others get weight 0."""
    total = losses[alone[0]]
    for index in alone[1:]:
        total = total + losses[index]
    total.backward()
    return StepResult(total=total.detach(), weights=[1.0 if index in alone else 0.0 for index in range(len(losses))])


def _compile_trunk(model: torch.nn.Module, backend: str = "inductor") -> None:
    """Compile the children that hold only shared parameters (the trunk or backbone) in
    place: the heads stay eager, so hooks on them (MGDA-UB's representation) keep working
    and state_dict keys do not change.

    Each child's `forward` is replaced by a compiled function of ours that calls it: dynamo
    starts tracing in our frame and inlines the whole trunk as one graph. (`Module.compile`
    starts in torch.nn's own frames, which torch 2.11 skips, compiling each residual block
    as a frame of its own; ResNet-20's block shapes times the batch sizes then pass dynamo's
    recompile limit of 8 and the rest runs eagerly, slower than no compile: measured on an
    H200.) Shapes are static: an epoch's last, smaller batch and the evaluation batches get
    graphs of their own instead of turning the training graph into a slower dynamic one.
    Buffer donation is turned off: a backward compiled by a method with one plain backward
    would otherwise refuse the `retain_graph=True` of the gradient-level methods (per-task
    gradients), in this process and, through the compile cache, in later ones."""
    import torch._functorch.config as functorch_config

    functorch_config.donated_buffer = False
    shared = {id(p) for p in model.shared_parameters()}  # type: ignore[operator]
    for child in model.children():
        params = list(child.parameters())
        if params and all(id(p) in shared for p in params):
            child.forward = _compiled(child.forward, backend)


def _compiled(forward: Callable[..., Any], backend: str) -> Callable[..., Any]:
    def trunk_forward(*args: Any, **kwargs: Any) -> Any:
        return forward(*args, **kwargs)

    return torch.compile(trunk_forward, backend=backend, dynamic=False)


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The protocol's SGD; `fused_sgd` runs it as one kernel (else the foreach default)."""
    extra = {"fused": True} if config.fused_sgd else {}
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **extra
    )


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


def _epoch_sums(
    loss_sums: torch.Tensor,
    weight_sums: torch.Tensor | None,
    extra_sums: dict[str, float | torch.Tensor],
    task_count: int,
    parameters: torch.Tensor,
) -> EpochSums:
    """The epoch's loss, weight and extra sums and `parameter_check` on the host; what is
    on the device comes over in one transfer."""
    named = {
        "losses": loss_sums,
        "weights": torch.zeros(task_count, dtype=torch.float64),
        "parameters": parameters.reshape(1),
    }
    if weight_sums is not None:
        named["weights"] = weight_sums
    tensors = [key for key, value in extra_sums.items() if isinstance(value, torch.Tensor)]
    named.update({f"extra {key}": torch.as_tensor(extra_sums[key]).detach().double().reshape(1) for key in tensors})
    host = {key: value for key, value in named.items() if value.device.type == "cpu"}
    remote = {key: value for key, value in named.items() if value.device.type != "cpu"}
    if remote:
        fetched = to_host(torch.cat([value.reshape(-1) for value in remote.values()]), "epoch")
        host.update(zip(remote, fetched.split([value.numel() for value in remote.values()])))
    extras = {key: float(value) for key, value in extra_sums.items() if not isinstance(value, torch.Tensor)}
    extras.update({key: float(host[f"extra {key}"]) for key in tensors})
    return EpochSums(host["losses"], host["weights"], extras, float(host["parameters"]))


def train(
    task: Task,
    arch: str,
    seed: int,
    config: TrainConfig,
    combiner: Combiner,
    device: torch.device,
    data_root: Path,
    on_epoch: EpochCallback | None = None,
    on_step: StepCallback | None = None,
    checkpoint: Path | None = None,
) -> TrainOutcome:
    """Train `arch` on `task` with `combiner`; a misbehaving loss ends the run early with
    `outcome.error` set and the epochs finished so far kept. With `checkpoint`, the full
    training state is saved there after every epoch and a run resumes from it."""
    generator = seed_everything(seed)
    data = task.load_data(config, device, data_root)
    model = task.build_model(arch, config).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:
        _compile_trunk(model)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    mixed = mixed_precision(config.amp, device.type)
    combiner.attach(model, seed)
    steps_per_epoch = -(-data.train_size // config.batch_size)
    outcome = TrainOutcome()
    task_count = len(task.loss_names)
    first_epoch = 0
    if checkpoint is not None:
        try:
            first_epoch = _restore(checkpoint, model, optimizer, scheduler, generator, combiner, device, outcome)
        except SubmissionError as exc:
            outcome.error = exc
            return outcome
    keep_checkpoints = checkpoint is not None
    pretraining = task.pretraining(config)
    if pretraining is not None and not (0 < pretraining.epochs < config.epochs and pretraining.losses):
        raise HarnessError(
            f"{task.name}: a single-task stage of {pretraining.epochs} of {config.epochs} epochs on losses "
            f"{pretraining.losses} leaves the method nothing to train"
        )
    method_start = pretraining.epochs if pretraining else 0  # the method's epoch 0
    for epoch in range(first_epoch, config.epochs):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        context = StepContext(epoch - method_start, config.epochs - method_start, lr, config.reuse_task_gradients)
        alone = pretraining.losses if pretraining and epoch < method_start else None
        loss_sums = torch.zeros(task_count, dtype=torch.float64, device=device)
        weight_sums: torch.Tensor | None = None  # on the device the method reports on
        extra_sums: dict[str, float | torch.Tensor] = {}
        steps = 0
        model.train()
        for inputs, targets in data.train_batches(generator):
            with bf16_autocast(device.type, mixed):
                outputs = model(inputs)
            losses = task.losses(outputs, targets, config)
            optimizer.zero_grad(set_to_none=True)
            if alone is not None:  # the single-task stage: the method is not asked
                result = _train_alone(losses, alone)
            else:
                try:
                    result = combiner.backward(losses, context)
                except SubmissionError as exc:
                    outcome.error = exc
                    return outcome
            optimizer.step()
            if alone is None and combiner.wants_losses_after_step:
                with torch.no_grad(), bf16_autocast(device.type, mixed):
                    combiner.after_step(task.losses(model(inputs), targets, config))
            loss_sums += torch.stack([loss.detach().double() for loss in losses])
            weights = _as_tensor(result.weights)
            weight_sums = weights if weight_sums is None else weight_sums + weights
            for key, value in result.extras.items():
                extra_sums[key] = extra_sums.get(key, 0.0) + value
            steps += 1
            if on_step is not None:
                on_step(steps, steps_per_epoch)
        scheduler.step()
        wait_for_device(device)  # a method with no wait per step leaves the device behind the host
        try:  # what the oracle's own processes did between calls counts too
            combiner.check_limits(epoch - method_start)
        except SubmissionError as exc:
            outcome.error = exc
            return outcome
        train_seconds = time.perf_counter() - started
        sums = _epoch_sums(loss_sums, weight_sums, extra_sums, task_count, parameter_check(model))
        if (diverged := divergence(epoch, sums)) is not None:  # the epochs before it are kept
            outcome.error = diverged
            return outcome
        metrics = task.evaluate(model, data, mixed)
        metrics.update({key: value / max(steps, 1) for key, value in sums.extras.items()})
        log = EpochLog(
            epoch=epoch,
            lr=lr,
            train_losses=dict(zip(task.loss_names, _mean(sums.losses, steps))),
            task_weights=dict(zip(task.loss_names, _mean(sums.weights, steps))),
            test_metrics=metrics,
            seconds=time.perf_counter() - started,
            images_per_second=data.train_size / max(train_seconds, 1e-9),
        )
        outcome.epochs.append(log)
        if checkpoint is not None and keep_checkpoints and epoch + 1 < config.epochs:
            try:
                keep_checkpoints = _save(
                    checkpoint,
                    epoch + 1,
                    model,
                    optimizer,
                    scheduler,
                    generator,
                    combiner,
                    device,
                    outcome,
                )
            except SubmissionError as exc:
                outcome.error = exc
                return outcome
        if on_epoch is not None:
            on_epoch(log)
    return outcome
