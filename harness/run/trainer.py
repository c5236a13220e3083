"""The trusted trainer: task-agnostic, it owns the model, the data, the optimizer and the
schedule, and asks a combiner how to turn the task losses into gradients. One epoch's work
is `harness.run.epoch.run_epoch`; here the state it works on is set up, restored from a
checkpoint and saved to one, and the epochs are looped over."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from harness.api.errors import SubmissionError
from harness.api.method import Combiner
from harness.api.precision import mixed_precision
from harness.api.records import CompileStats, EpochLog, TrainConfig
from harness.api.task import Task
from harness.oracle.client import StateUnavailable
from harness.oracle.guest.codec import UnsupportedState, decode, encode
from harness.run.checkpoint import CheckpointError, TrainingState, load_checkpoint, save_checkpoint
from harness.run.compilation import CompileWatch, compile_trunk
from harness.run.epoch import (
    EpochSums,
    MethodFailed,
    Stages,
    StepCallback,
    Training,
    divergence,
    method_call,
    parameter_check,
    run_epoch,
)
from harness.run.seeding import device_rng_state, restore_device_rng, seed_everything, set_deterministic

__all__ = [  # EpochSums, divergence and parameter_check live in harness.run.epoch
    "EpochCallback",
    "EpochSums",
    "StartCallback",
    "StepCallback",
    "TrainOutcome",
    "build_optimizer",
    "divergence",
    "parameter_check",
    "train",
]

EpochCallback = Callable[[EpochLog], None]
StartCallback = Callable[[list[EpochLog]], None]  # the epochs restored from a checkpoint (none: a fresh start)


@dataclass
class TrainOutcome:
    epochs: list[EpochLog] = field(default_factory=list)
    error: SubmissionError | None = None
    resumed_from: int | None = None  # epochs restored from a checkpoint
    notes: list[str] = field(default_factory=list)
    compile_stats: CompileStats | None = None  # with `compile`: whether it stayed compiled


def _restore(path: Path, training: Training, outcome: TrainOutcome) -> int:
    """Load `path` into `training`; the number of finished epochs (0 if none)."""
    if not path.is_file():
        return 0
    try:
        state = load_checkpoint(path)
    except CheckpointError as exc:
        outcome.notes.append(f"checkpoint ignored, training from the start: {exc}")
        return 0
    training.model.load_state_dict(state.model)
    training.optimizer.load_state_dict(state.optimizer)
    training.scheduler.load_state_dict(state.scheduler)
    training.generator.set_state(state.data_generator)
    torch.set_rng_state(state.torch_rng)
    restore_device_rng(training.device, state.cuda_rng)
    if state.combiner is not None:
        training.combiner.load_state(decode(state.combiner))
    if state.combiner_tensors:
        training.combiner.load_tensor_state({k: v.to(training.device) for k, v in state.combiner_tensors.items()})
    outcome.epochs = list(state.epochs)
    outcome.resumed_from = state.epoch
    return state.epoch


def _save(path: Path, epoch: int, training: Training, outcome: TrainOutcome) -> bool:
    """Save `training` after `epoch` epochs; False (and a note) if the method's state
    cannot be saved, so that no later epoch tries again."""
    try:
        combiner_state = encode(training.combiner.state(), "the method's state")
    except (StateUnavailable, UnsupportedState) as exc:
        outcome.notes.append(f"no checkpoints: the loss state cannot be saved ({exc})")
        return False
    save_checkpoint(
        path,
        TrainingState(
            epoch=epoch,
            model=training.model.state_dict(),
            optimizer=training.optimizer.state_dict(),
            scheduler=training.scheduler.state_dict(),
            data_generator=training.generator.get_state(),
            torch_rng=torch.get_rng_state(),
            cuda_rng=device_rng_state(training.device),
            epochs=outcome.epochs,
            combiner=combiner_state,
            combiner_tensors=training.combiner.tensor_state(),
        ),
    )
    return True


def build_optimizer(model: torch.nn.Module, config: TrainConfig) -> torch.optim.Optimizer:
    """The protocol's SGD; `fused_sgd` runs it as one kernel (else the foreach default)."""
    extra = {"fused": True} if config.fused_sgd else {}
    return torch.optim.SGD(
        model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay, **extra
    )


def _start(
    task: Task, arch: str, seed: int, config: TrainConfig, combiner: Combiner, device: torch.device, data_root: Path
) -> Training:
    """Seed, load the data, build the model, its optimizer and schedule, attach the method:
    in this order, which fixes every random number of the run."""
    generator = seed_everything(seed)
    set_deterministic(device, config.deterministic)
    data = task.load_data(config, device, data_root)
    model = task.build_model(arch, config).to(device)
    if config.channels_last:
        model = model.to(memory_format=torch.channels_last)
    if config.compile:
        compile_trunk(model)
    optimizer = build_optimizer(model, config)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=config.epochs)
    mixed = mixed_precision(config.amp, device.type)
    combiner.attach(model, seed)
    return Training(task, config, device, data, model, optimizer, scheduler, combiner, generator, mixed)


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
    on_start: StartCallback | None = None,
) -> TrainOutcome:
    """Train `arch` on `task` with `combiner`; a misbehaving loss ends the run early with
    `outcome.error` set and the epochs finished so far kept. With `checkpoint`, the full
    training state is saved there after every epoch and a run resumes from it. `on_start`
    gets the epochs restored from it (none on a fresh start) before the first epoch trains."""
    watch = CompileWatch() if config.compile else None
    training = _start(task, arch, seed, config, combiner, device, data_root)
    outcome = TrainOutcome()
    saving = checkpoint is not None
    try:
        with method_call():  # the method's saved state may not load
            first_epoch = 0 if checkpoint is None else _restore(checkpoint, training, outcome)
        if on_start is not None:
            on_start(list(outcome.epochs))
        stages = Stages.of(task, config)
        for epoch in range(first_epoch, config.epochs):
            log = run_epoch(training, stages, epoch, on_step)
            outcome.epochs.append(log)
            if checkpoint is not None and saving and epoch + 1 < config.epochs:
                with method_call():
                    saving = _save(checkpoint, epoch + 1, training, outcome)
            if on_epoch is not None:
                on_epoch(log)
    except MethodFailed as failed:  # the epochs finished before it are kept
        outcome.error = failed.error
    if watch is not None:
        outcome.compile_stats = watch.stats()
    return outcome
