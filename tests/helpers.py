"""What many tests use: the repository's paths, a submission writer and the registered tasks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from harness import registry
from harness.api import Task

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
