"""`--executor slurm` against the real test cluster: jobs go to Slurm in fixed bundles and
end with complete records, each exactly once; Slurm missing or unreachable is a one-line
error before anything is queued."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from harness import registry
from harness.api.records import JobSpec, TrainConfig
from harness.methods.resolve import registered_method
from harness.queue.jobqueue import JobQueue
from harness.queue.local import LocalRun, run_planned
from harness.queue.slurm import SlurmOptions
from harness.run.jobs import plan
from tests.helpers import run_main
from tests.slurm.test_cluster import final_state

TASK = registry.tasks.get("cifar100-mtl")
CONFIG = TrainConfig(epochs=1, batch_size=32, data="synthetic", train_size=64, test_size=32)


def test_twenty_jobs_run_through_slurm_bundles_exactly_once(
    slurm_cluster: Path, tmp_path: Path, data_root: Path
) -> None:
    jobs = [
        JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="slurm-test", config=CONFIG) for seed in range(20)
    ]
    planned = plan(registered_method("equal", TASK.loss_names), jobs, "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    how = LocalRun(results, data_root, "cpu", slots_per_device=4, slurm=SlurmOptions(cpus_per_job=1))
    records = run_planned(planned, {TASK.name: TASK}, queue, how)
    assert records is not None and sorted(r.key for r in records) == sorted(p.key for p in planned)
    assert all(r.status == "ok" and len(r.epochs) == 1 for r in records)
    files = list((results / "runs").rglob("*.json"))
    assert len(files) == 20  # each job recorded once
    entries = queue.entries("done")
    assert sorted(e.key for e in entries) == sorted(p.key for p in planned)
    assert all(e.attempts == 1 for e in entries)  # and run once
    bundles: dict[str, list[str]] = {}
    for entry in entries:
        assert entry.slurm_job is not None
        bundles.setdefault(entry.slurm_job, []).append(entry.key)
    assert sorted(len(keys) for keys in bundles.values()) == [4] * 5  # five bundles of four
    assert [final_state(job) for job in bundles] == ["COMPLETED"] * 5


def test_sbatch_missing_is_a_one_line_error_before_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    results = tmp_path / "results"
    code, _, err = run_main(
        capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm",
        "--results", results, "--data-root", tmp_path / "data",
    )  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0
    assert "sbatch is not on PATH" in err
    assert not (results / "queue").exists() or not any((results / "queue" / "pending").iterdir())


@pytest.mark.skipif(shutil.which("sinfo") is None, reason="the Slurm client is not installed")
def test_unreachable_slurm_is_a_one_line_error_before_queueing(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    conf = tmp_path / "slurm.conf"
    conf.write_text("ClusterName=nowhere\nSlurmctldHost=localhost\nSlurmctldPort=9\nAuthType=auth/none\n")
    monkeypatch.setenv("SLURM_CONF", str(conf))
    results = tmp_path / "results"
    code, _, err = run_main(
        capsys, monkeypatch, "baselines", "--preset", "tiny", "--only", "equal", "--executor", "slurm",
        "--results", results, "--data-root", tmp_path / "data",
    )  # fmt: skip
    assert code == 2 and err.strip().count("\n") == 0, err
    assert "Slurm does not answer" in err
    assert not (results / "queue").exists() or not any((results / "queue" / "pending").iterdir())


def test_status_shows_slurm_jobs_and_cancel_leaves_none_behind(
    slurm_cluster: Path, tmp_path: Path, data_root: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    long = CONFIG.model_copy(update={"epochs": 50})  # still running when cancelled
    jobs = [JobSpec(task=TASK.name, arch="resnet20", seed=seed, preset="slurm-test", config=long) for seed in range(4)]
    planned = plan(registered_method("equal", TASK.loss_names), jobs, "cpu")
    results = tmp_path / "results"
    queue = JobQueue(results / "queue")
    how = LocalRun(results, data_root, "cpu", slots_per_device=2, wait=False, slurm=SlurmOptions(cpus_per_job=1))
    assert run_planned(planned, {TASK.name: TASK}, queue, how) is None
    slurm_jobs = sorted({entry.slurm_job for entry in queue.entries("pending") + queue.entries("running")})
    assert len(slurm_jobs) == 2 and None not in slurm_jobs

    capsys.readouterr()
    code, out, _ = run_main(capsys, monkeypatch, "status", "--results", results)
    assert code == 0
    for job in slurm_jobs:
        assert any(f"| {job} " in line and ("PENDING" in line or "RUNNING" in line) for line in out.splitlines()), out

    code, out, _ = run_main(capsys, monkeypatch, "cancel", "equal", "--results", results)
    assert code == 0 and "cancelled 4 job(s)" in out and f"Slurm job(s) {', '.join(slurm_jobs)}" in out
    assert all(final_state(job).startswith("CANCELLED") for job in slurm_jobs)  # nothing left in Slurm
    assert queue.counts()["cancelled"] == 4
    assert not list((results / "runs").rglob("*.json"))
