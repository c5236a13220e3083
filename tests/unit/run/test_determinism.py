"""Reproducibility stated and true: `deterministic` (on for the final evaluation) switches
CUDA's deterministic modes per job, is in the cache key only when on, and a board cell whose
runs came from different environments says so."""

from __future__ import annotations

import pytest
import torch

from harness import registry
from harness.api.records import Environment, JobSpec, MethodSpec, TrainConfig, job_key
from harness.report.board import build_board
from harness.report.markdown import notes
from harness.run.seeding import set_deterministic
from tests.helpers import all_tasks
from tests.unit.report.test_leaderboard_and_store import record

CUDA = torch.device("cuda", 0)  # a device object: nothing runs on it


@pytest.fixture
def restore_modes():
    import torch._inductor.config as inductor_config

    before = torch.are_deterministic_algorithms_enabled(), inductor_config.deterministic
    yield inductor_config
    torch.use_deterministic_algorithms(before[0])
    inductor_config.deterministic = before[1]


def test_a_cuda_job_sets_the_modes_and_the_next_job_clears_them(restore_modes) -> None:
    set_deterministic(CUDA, True)
    assert torch.are_deterministic_algorithms_enabled() and restore_modes.deterministic
    set_deterministic(CUDA, False)  # the slot's next job, not deterministic
    assert not torch.are_deterministic_algorithms_enabled() and not restore_modes.deterministic


def test_a_cpu_job_changes_nothing(restore_modes) -> None:
    set_deterministic(torch.device("cpu"), True)
    assert not torch.are_deterministic_algorithms_enabled() and not restore_modes.deterministic


def test_deterministic_is_keyed_only_when_on_and_on_for_the_final_preset() -> None:
    spec = MethodSpec(name="m", entry_type="baseline", kind="loss_module", source_path="x.py", source_sha256="0" * 64)
    job = JobSpec(task="cifar100-mtl", arch="resnet20", seed=0, preset="dev", config=TrainConfig(epochs=2))
    on = job.model_copy(update={"config": job.config.model_copy(update={"deterministic": True})})
    plain = job_key(spec, job, "0.1.0", "cuda")
    assert job_key(spec, on, "0.1.0", "cuda") != plain
    from harness.api.records import _job_for_key

    assert "deterministic" not in _job_for_key(job)["config"] and _job_for_key(on)["config"]["deterministic"]
    for name in ("cifar100-mtl", "face-age-gender", "face-adience"):
        task = registry.tasks.get(name)
        assert task.preset("final")[0].deterministic, name
        assert not task.preset("full")[0].deterministic, name


def _with_environment(rec, device_name: str, torch_version: str = "2.14.1"):
    env = rec.environment.model_copy(update={"device_name": device_name, "torch": torch_version})
    return rec.model_copy(update={"environment": env})


def test_a_cell_mixing_environments_says_so() -> None:
    tasks = all_tasks()
    same = [_with_environment(record("equal", "resnet20", seed, 60.0 + seed), "NVIDIA H100") for seed in (1, 2)]
    board = build_board(same, tasks, "dev")
    assert not any("different environments" in line for line in notes(board, tasks))
    mixed = [*same, _with_environment(record("equal", "resnet20", 3, 63.0), "NVIDIA H200", "2.11.0")]
    board = build_board(mixed, tasks, "dev")
    (line,) = [line for line in notes(board, tasks) if "different environments" in line]
    assert "NVIDIA H100, torch 2.14.1" in line and "NVIDIA H200, torch 2.11.0" in line and "`equal`" in line


def test_the_environment_label_names_cuda_and_the_driver() -> None:
    env = Environment(
        python="3.11",
        torch="2.14.1",
        torchvision="0.29.1",
        harness="0.1.0",
        device="cuda:0",
        device_name="NVIDIA H100 80GB HBM3",
        sandbox="bwrap",
        cuda="13.0",
        cuda_driver="580.65",
    )
    assert env.label() == "NVIDIA H100 80GB HBM3, torch 2.14.1, CUDA 13.0, driver 580.65"


def test_the_deterministic_flag_reaches_every_planned_job(
    tmp_path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from harness.outputs import RunOutput
    from tests.helpers import REPO, run_main

    example = REPO / "submissions" / "example_loss.py"
    base = ["submit", example, "--preset", "tiny", "--tasks", "cifar100-mtl", "--results", tmp_path, "--dry-run"]

    def planned(*extra: str) -> set[bool]:
        from harness.commands import planning

        seen: list = []
        original = planning.plan

        def spy(method, jobs, device_type):
            seen.extend(job.config.deterministic for job in jobs)
            return original(method, jobs, device_type)

        monkeypatch.setattr(planning, "plan", spy)
        code, out, _ = run_main(capsys, monkeypatch, *base, *extra, "--json")
        assert code == 0 and RunOutput.model_validate_json(out).dry_run
        return set(seen)

    assert planned() == {False}  # the tiny preset's own setting
    assert planned("--deterministic") == {True}
    assert planned("--no-deterministic") == {False}
