"""Which protocol a task's jobs of a preset run under: the `screen` preset and the
command line's screening and held-out changes, settled the same way where jobs are planned
and where boards pick their runs."""

from __future__ import annotations

from harness.api.errors import HarnessError
from harness.api.records import Protocol, TrainConfig
from harness.api.task import Task

SCREEN_PRESET = "screen"
SCREEN_TRAIN_FRACTION = 0.25


def base_preset(task: Task, preset: str) -> tuple[TrainConfig, list[str], list[int]]:
    """The task's preset; `screen` is the task's `dev` on its first architecture."""
    if preset != SCREEN_PRESET:
        return task.preset(preset)
    config, archs, seeds = task.preset("dev")
    return config, archs[:1], seeds


def resolve_protocol(task: Task, preset: str, requested: Protocol | None = None) -> Protocol:
    """The protocol `task`'s jobs of `preset` run under: the `screen` preset's own (a third
    of dev's epochs on a quarter of the training set) under the requested changes; for the
    other presets the requested one. An explicit epoch count is a screening run even where
    it equals the preset's (one board then never mixes tasks of both kinds); a training
    share of 1 is the whole set, outside `screen` no change. The final evaluation runs only
    its own protocol."""
    requested = requested or Protocol()
    config = base_preset(task, preset)[0]
    if preset == SCREEN_PRESET:
        fraction = SCREEN_TRAIN_FRACTION if task.supports_subsets else None
        protocol = Protocol(
            epochs=requested.epochs or max(1, round(config.epochs / 3)),
            train_fraction=requested.train_fraction or fraction,
            evaluation=requested.evaluation,
        )
    else:
        whole = requested.train_fraction == 1
        protocol = requested.model_copy(update={"train_fraction": None}) if whole else requested
    if preset == "final" and not protocol.standard:
        raise HarnessError("the final evaluation runs its own protocol: no --epochs, --train-fraction or --protocol")
    subset = protocol.train_fraction is not None and protocol.train_fraction < 1
    if (subset or protocol.evaluation == "heldout") and not task.supports_subsets:
        raise HarnessError(
            f"task {task.name} does not support --train-fraction or --protocol heldout "
            "(its load_data does not use harness.api.training_subsets)"
        )
    return protocol
