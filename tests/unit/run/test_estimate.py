"""--dry-run: the cost estimate from the table, and a dry run that queues nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.api.records import JobSpec, TrainConfig
from harness.outputs import RunOutput
from harness.run.estimate import COST_TABLE, CostEntry, CostTable, DeviceCosts, job_seconds, load_cost_table
from tests.helpers import REPO, run_main


def test_job_seconds_from_the_table_on_hand_computed_values() -> None:
    table = CostTable(
        full_sizes={"cifar100-mtl": (50_000, 10_000)},
        devices={
            "cpu": DeviceCosts(
                measured="here",
                costs={
                    "cifar100-mtl/resnet20/full": CostEntry(train_seconds_per_image=0.002, eval_seconds_per_image=0.001)
                },
                method_factors={"equal": 1.0, "pcgrad": 2.5, "loss-submission": 1.1},
            )
        },
    )
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=0, preset="full", config=TrainConfig(epochs=200))
    # 200 epochs x (50,000 x 2 ms x 2.5 + 10,000 x 1 ms): 200 x 260 s
    assert job_seconds(table, job, "cpu", "pcgrad", "gradient", False) == pytest.approx(200 * 260.0)
    assert job_seconds(table, job, "cpu", "mine", "loss", True) == pytest.approx(200 * (110.0 + 10.0))
    capped = job.model_copy(update={"config": TrainConfig(epochs=2, train_size=100, test_size=10)})
    assert job_seconds(table, capped, "cpu", "equal", "loss", False) == pytest.approx(2 * (0.2 + 0.01))
    assert job_seconds(table, job, "cuda", "equal", "loss", False) is None  # no measurement: no guess
    assert job_seconds(table, job, "cpu", "unmeasured", "gradient", False) is None
    assert job_seconds(table, job.model_copy(update={"arch": "resnet56"}), "cpu", "equal", "loss", False) is None


def test_the_committed_table_loads_and_covers_the_default_run() -> None:
    table = load_cost_table(COST_TABLE)
    assert "cpu" in table.devices and table.devices["cpu"].measured
    assert "cifar100-mtl/resnet20/smoke" in table.devices["cpu"].costs
    assert {"equal", "pcgrad", "loss-submission", "gradient-submission"} <= table.devices["cpu"].method_factors.keys()


def test_dry_run_lists_recorded_and_missing_jobs_and_queues_nothing(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    args = ("--preset", "tiny", "--tasks", "cifar100-mtl", "--results", results, "--dry-run")
    code, out, _ = run_main(capsys, monkeypatch, "baselines", "--only", "equal", "pcgrad", *args)
    assert code == 0, out
    assert "| equal    | cifar100-mtl | resnet20 | cpu      |      1 |          0 |        1 |" in out
    assert "dry run: nothing was queued" in out and "cpu: about" in out
    assert not (results / "queue").exists() and not (results / "runs").exists()
    # a submission's dry run plans it with the seed's baselines and starts no sandbox
    code, out, _ = run_main(capsys, monkeypatch, "submit", REPO / "submissions" / "example_loss.py", *args)
    assert code == 0, out
    assert "example_loss" in out and "| dwa " in out and "checked in the" not in out
    assert not (results / "queue").exists()
    json.loads(COST_TABLE.read_text())  # the table the estimate came from is valid JSON


def test_dry_run_json_lists_planned_jobs_with_their_estimates(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    results = tmp_path / "results"
    args = ("--preset", "tiny", "--tasks", "cifar100-mtl", "--results", results, "--dry-run", "--json")
    code, out, _ = run_main(capsys, monkeypatch, "baselines", "--only", "equal", "pcgrad", *args, "--epochs", "1")
    assert code == 0
    document = RunOutput.model_validate_json(out)
    assert document.dry_run and document.protocol == "epochs=1" and document.leaderboard is None
    assert [(j.method, j.status) for j in document.jobs] == [("equal", "planned"), ("pcgrad", "planned")]
    hours = [j.estimated_device_hours for j in document.jobs]
    assert all(h is not None and h > 0 for h in hours)
    (cpu,) = document.estimates
    assert cpu.device == "cpu" and cpu.unmeasured_jobs == 0
    assert cpu.device_hours == pytest.approx(sum(h for h in hours if h is not None))
    full_run = RunOutput.model_validate_json(
        run_main(capsys, monkeypatch, "baselines", "--only", "equal", *args)[1]
    ).jobs[0]
    assert full_run.estimated_device_hours == pytest.approx(2 * hours[0])  # tiny's 2 epochs cost twice one
    assert not (results / "queue").exists()
