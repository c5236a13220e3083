"""Which training images a job trains on and which it is scored on, for the tasks that
honour screening (`train_fraction`) and held-out evaluation (`heldout_fraction`)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from harness.api.records import TrainConfig

# Fixed, not the job's seed: every method and seed sees the same validation split and the
# same screening subset, so their numbers pair.
SUBSET_SEED = 20261126


@dataclass(frozen=True)
class Subsets:
    """Indices into the task's training set, in their original order. `evaluation` is None
    when the job is scored on the test split (the standard protocol)."""

    train: list[int]
    evaluation: list[int] | None


def _permutation(count: int, purpose: int) -> list[int]:
    generator = torch.Generator().manual_seed(SUBSET_SEED + purpose)
    return torch.randperm(count, generator=generator).tolist()


def training_subsets(count: int, config: TrainConfig) -> Subsets:
    """Carve the held-out split (a fixed, seeded share of the `count` training images), then
    take the preset's `train_size` (the first N of the rest, as without a protocol) and the
    screening share (a seeded subset). The held-out split obeys `test_size` like the test
    split would. With the defaults this is simply the first `train_size` images."""
    if config.heldout_fraction > 0:
        order = _permutation(count, 0)
        held = max(1, round(count * config.heldout_fraction))
        if held >= count:
            raise ValueError(f"a held-out share of {config.heldout_fraction} leaves no training images of {count}")
        pool, evaluation = order[held:], sorted(order[:held])
        evaluation = evaluation[: config.test_size] if config.test_size else evaluation
    else:
        pool, evaluation = list(range(count)), None
    if config.train_size is not None:
        pool = pool[: config.train_size]
    if config.train_fraction < 1:
        keep = max(1, round(len(pool) * config.train_fraction))
        pool = [pool[i] for i in _permutation(len(pool), 1)[:keep]]
    return Subsets(sorted(pool), evaluation)
