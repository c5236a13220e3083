"""Which training images a job trains on and which it is scored on, for the tasks that
honour screening (`train_fraction`) and held-out evaluation (`heldout_fraction`)."""

from __future__ import annotations

from collections.abc import Hashable, Sequence
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


def _carve(count: int, fraction: float, groups: Sequence[Hashable] | None) -> tuple[list[int], list[int]]:
    """(the training pool in a seeded order, the held-out indices sorted). With `groups`
    (each image's subject) whole subjects are held out, drawn in a seeded order until the
    split has its share: no person is on both sides."""
    order = _permutation(count, 0)
    held_count = max(1, round(count * fraction))
    if groups is None:
        held = order[:held_count]
    else:
        members: dict[Hashable, list[int]] = {}
        for index, group in enumerate(groups):
            members.setdefault(group, []).append(index)
        subjects = sorted(members, key=repr)  # independent of the order the files were read in
        held = []
        for pick in _permutation(len(subjects), 2):
            if len(held) >= held_count:
                break
            held += members[subjects[pick]]
    chosen = set(held)
    pool = [index for index in order if index not in chosen]
    if not pool:
        raise ValueError(f"a held-out share of {fraction} leaves no training images of {count}")
    return pool, sorted(held)


def training_subsets(count: int, config: TrainConfig, groups: Sequence[Hashable] | None = None) -> Subsets:
    """Carve the held-out split (a fixed, seeded share of the `count` training images; whole
    `groups` at a time where images of one subject must stay together), then take the
    preset's `train_size` (the first N of the rest, as without a protocol) and the
    screening share (a seeded subset). The held-out split obeys `test_size` like the test
    split would. With the defaults this is simply the first `train_size` images."""
    if groups is not None and len(groups) != count:
        raise ValueError(f"{len(groups)} groups for {count} training images")
    if config.heldout_fraction > 0:
        pool, held = _carve(count, config.heldout_fraction, groups)
        evaluation: list[int] | None = held[: config.test_size] if config.test_size else held
    else:
        pool, evaluation = list(range(count)), None
    if config.train_size is not None:
        pool = pool[: config.train_size]
    if config.train_fraction < 1:
        keep = max(1, round(len(pool) * config.train_fraction))
        pool = [pool[i] for i in _permutation(len(pool), 1)[:keep]]
    return Subsets(sorted(pool), evaluation)
