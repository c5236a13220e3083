"""Compile that holds in a long-lived slot: each job's trunk has a compile cache of its own,
so the tenth job of a slot is compiled like the first, and its record says whether it ran
compiled throughout."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from harness.api.records import TrainConfig
from harness.methods.resolve import registered_method
from harness.run import compilation
from harness.run.compilation import CompileWatch, compile_trunk
from harness.run.trainer import train
from tasks.cifar100_mtl import Cifar100MultiTask
from tests.unit.baselines.asserts import TOY_FEATURES, ToyHeads

CPU = torch.device("cpu")


def _job(seed: int) -> bool:
    """One 'job' of a slot: a new model, compiled, trained on two batch shapes and evaluated."""
    watch = CompileWatch()
    model = ToyHeads(2, seed=seed)
    compile_trunk(model, backend="eager")
    for batch in (8, 5):
        sum(out.sum() for out in model(torch.randn(batch, TOY_FEATURES))).backward()
    with torch.no_grad():
        model(torch.randn(16, TOY_FEATURES))
    stats = watch.stats()
    assert stats.graphs >= 1 and stats.frames == stats.frames_compiled
    return stats.compiled_throughout


def test_a_slots_fourth_job_stays_compiled_like_its_first() -> None:
    """Four models of 3 shapes each in one process: a wrapper sharing one code object passes
    dynamo's recompile limit (8) at the third job and runs the rest eagerly."""
    torch._dynamo.reset()
    assert all(_job(seed) for seed in range(4))


def test_a_job_past_the_recompile_limit_says_it_fell_back_to_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    """The record's flag is honest: with the limit at 1, the second batch shape is not compiled."""
    torch._dynamo.reset()
    monkeypatch.setattr(torch._dynamo.config, "recompile_limit", 1)
    watch = CompileWatch()
    model = ToyHeads(2)
    compile_trunk(model, backend="eager")
    for batch in (8, 5, 3):
        model(torch.randn(batch, TOY_FEATURES))
    stats = watch.stats()
    assert stats.recompile_limit_hits == 1 and not stats.compiled_throughout


TASK = Cifar100MultiTask()
TINY = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=48, compile=True)


@pytest.mark.slow  # five compiled jobs (dynamo traces ResNet-56 and VGG-16 on the CPU)
def test_one_slot_runs_every_architecture_famo_and_heldout_compiled(
    data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """resnet20, resnet56 and vgg16bn, then FAMO and a held-out job, one after another in one
    process as a worker slot runs them: every job's trunk compiled throughout (dynamo's
    caching is the backend's business only once a graph is made: eager stands in for inductor)."""
    monkeypatch.setattr(compilation, "BACKEND", "eager")
    torch._dynamo.reset()
    heldout = TINY.model_copy(update={"heldout_fraction": 0.25})
    jobs = [("resnet20", "equal", TINY), ("resnet56", "equal", TINY), ("vgg16bn", "equal", TINY)]
    jobs += [("resnet20", "famo", TINY), ("resnet20", "equal", heldout)]
    for arch, method, config in jobs:
        combiner = registered_method(method, TASK.loss_names).make_combiner(config)
        outcome = train(TASK, arch, 0, config, combiner, CPU, data_root)
        stats = outcome.compile_stats
        assert outcome.error is None and stats is not None, (arch, method)
        assert stats.compiled_throughout and stats.recompile_limit_hits == 0, (arch, method, stats)
        assert stats.graphs >= 2  # training and evaluation shapes


def test_a_job_without_compile_records_no_compile_stats(data_root: Path) -> None:
    config = TINY.model_copy(update={"compile": False})
    combiner = registered_method("equal", TASK.loss_names).make_combiner(config)
    assert train(TASK, "resnet20", 0, config, combiner, CPU, data_root).compile_stats is None


def test_a_compiled_jobs_record_says_it_stayed_compiled(
    tmp_path: Path, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from harness.api.records import JobSpec
    from harness.run.jobs import plan, run_job
    from harness.run.progress import JobProgress

    monkeypatch.setattr(compilation, "BACKEND", "eager")
    config = TINY.model_copy(update={"train_size": 32, "test_size": 16, "batch_size": 16})
    job = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="compile-test", config=config)
    (planned,) = plan(registered_method("equal", TASK.loss_names), [job], "cpu")
    record = run_job(planned, TASK, CPU, data_root, tmp_path, JobProgress("t", 1, io.StringIO()))
    stats = record.compile_stats
    assert record.status == "ok" and stats is not None and stats.compiled_throughout and stats.graphs >= 2
    assert record.environment.cuda is None and record.environment.cuda_driver is None  # a CPU job
