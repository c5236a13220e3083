"""Screening and held-out protocols: the subsets a job trains and is scored on, the
protocol each preset resolves to, and the cache keys of the standard protocol."""

from __future__ import annotations

import pytest

from harness.api import HarnessError, JobSpec, MethodSpec, Protocol, TrainConfig, job_key, training_subsets
from harness.api.protocols import resolve_protocol
from harness.run.jobs import expand_jobs
from tasks.cifar100_mtl import PRESETS
from tests.helpers import all_tasks
from tests.unit.plugin_objects import RenamedCifar

TASKS = all_tasks()
CIFAR = TASKS["cifar100-mtl"]


def test_standard_protocol_trains_on_the_first_images_and_scores_the_test_split() -> None:
    subsets = training_subsets(1000, TrainConfig(epochs=1, train_size=300))
    assert subsets.train == list(range(300)) and subsets.evaluation is None
    assert training_subsets(50, TrainConfig(epochs=1)).train == list(range(50))


def test_heldout_split_is_fixed_disjoint_and_the_same_for_every_job() -> None:
    config = TrainConfig(epochs=1, heldout_fraction=0.1)
    first, again = training_subsets(1000, config), training_subsets(1000, config.model_copy(update={"lr": 0.5}))
    assert first == again  # no job setting (seed, learning rate) moves the split
    assert first.evaluation is not None and len(first.evaluation) == 100
    assert set(first.train).isdisjoint(first.evaluation)
    assert sorted(first.train + first.evaluation) == list(range(1000))
    assert first.evaluation != list(range(900, 1000)) and first.evaluation != list(range(100))  # seeded, not a block
    limited = training_subsets(1000, config.model_copy(update={"train_size": 200, "test_size": 30}))
    assert limited.evaluation == first.evaluation[:30] and len(limited.train) == 200
    assert set(limited.train) <= set(first.train)


def test_train_fraction_is_a_seeded_share_of_the_pool() -> None:
    config = TrainConfig(epochs=1, train_fraction=0.25)
    subsets = training_subsets(1000, config)
    assert len(subsets.train) == 250 and subsets.train == sorted(set(subsets.train))
    assert subsets.train != list(range(250)) and subsets == training_subsets(1000, config)
    both = training_subsets(1000, config.model_copy(update={"heldout_fraction": 0.1}))
    assert both.evaluation is not None and len(both.train) == 225 and set(both.train).isdisjoint(both.evaluation)


def test_heldout_subjects_stay_on_one_side() -> None:
    groups = [f"person {i // 4}" for i in range(400)]  # 100 people, 4 images each
    config = TrainConfig(epochs=1, heldout_fraction=0.1)
    subsets = training_subsets(400, config, groups)
    assert subsets.evaluation is not None and 40 <= len(subsets.evaluation) < 44
    held = {groups[i] for i in subsets.evaluation}
    assert held.isdisjoint(groups[i] for i in subsets.train)
    assert all(groups.count(g) == sum(groups[i] == g for i in subsets.evaluation) for g in held)  # whole people
    shuffled = list(reversed(groups))  # the same people read in another order: the same people held out
    again = training_subsets(400, config, shuffled)
    assert again.evaluation is not None and {shuffled[i] for i in again.evaluation} == held
    with pytest.raises(ValueError, match="leaves no training images"):
        training_subsets(4, config, ["one person"] * 4)


def test_protocol_keys_name_every_change() -> None:
    assert Protocol().key == "standard" and Protocol().standard
    assert Protocol(epochs=5, train_fraction=0.25, evaluation="heldout").key == "epochs=5,train-fraction=0.25,heldout"
    assert Protocol(train_fraction=0.1234561).key != Protocol(train_fraction=0.1234559).key
    assert Protocol(evaluation="heldout").screening is False and Protocol(epochs=3).screening
    with pytest.raises(ValueError):
        Protocol(train_fraction=1.5)


def test_standard_jobs_keep_their_cache_keys_and_other_protocols_get_new_ones() -> None:
    method = MethodSpec(
        name="equal", entry_type="baseline", kind="loss_module", source_path="x", source_sha256="0" * 64
    )
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=0, preset="tiny", config=PRESETS["tiny"][0])
    # the key this job had before protocols existed (harness at commit 8c9f412): records stay cached
    assert job_key(method, job, "0.3.0") == "496175585769a4877957161d60a5a46e0d12ff97798c4395d39cd513d675f952"
    keys = {job_key(method, job, "0.3.0")}
    for protocol in (Protocol(epochs=1), Protocol(train_fraction=0.5), Protocol(evaluation="heldout")):
        changed = job.model_copy(update={"protocol": protocol, "config": protocol.apply(job.config)})
        keys.add(job_key(method, changed, "0.3.0"))
    assert len(keys) == 4


def test_screen_preset_is_a_short_dev_on_the_first_architecture() -> None:
    (job,) = expand_jobs(CIFAR, "screen", None, None)
    dev = PRESETS["dev"][0]
    assert job.preset == "screen" and job.arch == "resnet20" and job.seed == PRESETS["dev"][2][0]
    assert job.protocol == Protocol(epochs=10, train_fraction=0.25)
    assert job.config == dev.model_copy(update={"epochs": 10, "train_fraction": 0.25})
    (longer,) = expand_jobs(CIFAR, "screen", None, None, protocol=Protocol(epochs=20, evaluation="heldout"))
    assert longer.protocol.key == "epochs=20,train-fraction=0.25,heldout" and longer.config.heldout_fraction == 0.1


def test_requested_protocols_resolve_per_preset() -> None:
    # an explicit epoch count screens even where it is dev's own: tasks with other counts never mix on one board
    assert resolve_protocol(CIFAR, "dev", Protocol(epochs=30)).key == "epochs=30"
    assert resolve_protocol(CIFAR, "dev", Protocol(train_fraction=1.0)).standard  # the whole set: no change
    assert resolve_protocol(CIFAR, "screen", Protocol(train_fraction=1.0)).key == "epochs=10,train-fraction=1.0"
    (job,) = expand_jobs(CIFAR, "tiny", None, None, protocol=Protocol(epochs=1, evaluation="heldout"))
    assert job.config.epochs == 1 and job.config.heldout_fraction == 0.1 and job.protocol.key == "epochs=1,heldout"
    with pytest.raises(HarnessError, match="final evaluation runs its own protocol"):
        resolve_protocol(CIFAR, "final", Protocol(evaluation="heldout"))


def test_a_task_that_does_not_carve_subsets_refuses_them() -> None:
    class NoSubsets(RenamedCifar):
        supports_subsets = False

    task = NoSubsets()
    assert resolve_protocol(task, "tiny", Protocol(epochs=1)).key == "epochs=1"  # epochs need nothing of the task
    for protocol in (Protocol(train_fraction=0.5), Protocol(evaluation="heldout")):
        with pytest.raises(HarnessError, match="does not support --train-fraction or --protocol heldout"):
            expand_jobs(task, "tiny", None, None, protocol=protocol)
    assert resolve_protocol(task, "screen").train_fraction is None  # its screen preset shortens epochs only
