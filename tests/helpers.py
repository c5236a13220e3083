"""What many tests use: the repository's paths, a submission writer and the registered tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import registry
from harness.api import JobSpec, RunRecord, Task

REPO = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
FIXTURES = REPO / "tests" / "fixtures"


def write_submission(folder: Path, body: str, name: str = "submission.py") -> Path:
    path = folder / name
    path.write_text(body)
    return path


def all_tasks() -> dict[str, Task]:
    """The registered tasks, each loaded (a test fails if one cannot be)."""
    loaded, broken = registry.tasks.load_all()
    assert not broken, broken
    return loaded


def loss_file(name: str) -> Path:
    """The MultiTaskLoss file of a registered loss-level method."""
    path = registry.methods.get(name).loss_file
    assert path is not None, f"{name} is not a loss file"
    return path


def runner(*args: str | Path, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "runner.py", *map(str, args)], cwd=REPO, capture_output=True, text=True, timeout=timeout
    )


def run_main(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str | Path):
    """The CLI in this process (no interpreter start-up): exit code, stdout, stderr."""
    from harness.cli import main

    monkeypatch.chdir(REPO)
    code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def records(results: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((results / "runs").rglob("*.json"))]


def run_record(
    method: str,
    job: JobSpec,
    value: float | None,
    primary_metric: str,
    entry_type: str = "baseline",
    finished: str = "2026-01-01T00:00:00",
) -> RunRecord:
    """A one-epoch run record of `job` whose best primary metric is `value` (None: failed),
    for the board tests; the key names the method, the job and the finishing time."""
    from harness.api.records import Environment, EpochLog, MethodSpec, RunRecord

    epochs = []
    if value is not None:
        epochs = [
            EpochLog(
                epoch=0,
                lr=0.1,
                train_losses={},
                task_weights={},
                test_metrics={primary_metric: value},
                seconds=1.0,
                images_per_second=1.0,
            )
        ]
    return RunRecord(
        key=f"{method}{job.arch}{job.seed}{job.variant}{job.preset}{finished}".ljust(64, "0")[:64],
        method=MethodSpec(
            name=method, entry_type=entry_type, kind="loss_module", source_path="x.py", source_sha256="0" * 64
        ),
        job=job,
        status="ok" if value is not None else "failed",
        error=None if value is not None else "boom",
        epochs=epochs,
        primary_metric=primary_metric,
        best_primary=value,
        started_at=finished,
        finished_at=finished,
        wall_seconds=1.0,
        environment=Environment(
            python="3", torch="t", torchvision="v", harness="h", device="cpu", device_name="cpu", sandbox="in-process"
        ),
    )
