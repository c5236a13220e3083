"""The trusted trainer: task-agnostic, it owns the model, the data, the optimizer and the
schedule, and asks a combiner how to turn the task losses into gradients."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.api.errors import SubmissionError
from harness.api.method import Combiner, StepContext
from harness.api.records import EpochLog, TrainConfig
from harness.api.task import Task
from harness.oracle.client import StateUnavailable
from harness.oracle.guest.codec import UnsupportedState, decode, encode
from harness.run.checkpoint import CheckpointError, TrainingState, load_checkpoint, save_checkpoint
from harness.run.seeding import seed_everything

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
    if device.type == "cuda" and state.cuda_rng:
        torch.cuda.set_rng_state_all(state.cuda_rng)
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
            cuda_rng=torch.cuda.get_rng_state_all() if device.type == "cuda" else [],
            epochs=outcome.epochs,
            combiner=combiner_state,
            combiner_tensors=combiner.tensor_state(),
        ),
    )
    return True


def _mean(values: torch.Tensor, steps: int) -> list[float]:
    return (values / max(steps, 1)).tolist()


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
    optimizer = torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    autocast = config.amp and device.type == "cuda"
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
    for epoch in range(first_epoch, config.epochs):
        started = time.perf_counter()
        lr = optimizer.param_groups[0]["lr"]
        context = StepContext(epoch, config.epochs, lr)
        loss_sums = torch.zeros(task_count, dtype=torch.float64, device=device)
        weight_sums = torch.zeros(task_count, dtype=torch.float64)
        extra_sums: dict[str, float | torch.Tensor] = {}
        steps = 0
        model.train()
        for inputs, targets in data.train_batches(generator):
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                outputs = model(inputs)
            losses = task.losses(outputs, targets, config)
            optimizer.zero_grad(set_to_none=True)
            try:
                result = combiner.backward(losses, context)
            except SubmissionError as exc:
                outcome.error = exc
                return outcome
            optimizer.step()
            if combiner.wants_losses_after_step:
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=autocast):
                    combiner.after_step(task.losses(model(inputs), targets, config))
            loss_sums += torch.stack([loss.detach().double() for loss in losses])
            weight_sums += torch.tensor(result.weights, dtype=torch.float64)
            for key, value in result.extras.items():
                extra_sums[key] = extra_sums.get(key, 0.0) + value
            steps += 1
            if on_step is not None:
                on_step(steps, steps_per_epoch)
        scheduler.step()
        train_seconds = time.perf_counter() - started
        metrics = task.evaluate(model, data, autocast)
        metrics.update({key: float(value) / max(steps, 1) for key, value in extra_sums.items()})
        log = EpochLog(
            epoch=epoch,
            lr=lr,
            train_losses=dict(zip(task.loss_names, _mean(loss_sums.cpu(), steps))),
            task_weights=dict(zip(task.loss_names, _mean(weight_sums, steps))),
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
