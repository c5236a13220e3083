"""The face tasks through the real command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tasks.face_age_gender import synthetic
from tests.helpers import records, run_main, runner


@pytest.mark.slow  # end to end; quick: tests/unit/tasks/test_face_task.py
def test_face_tasks_run_through_submit_and_reach_the_leaderboard(tmp_path: Path) -> None:
    results = tmp_path / "results"
    done = runner(
        "submit",
        "submissions/example_loss.py",
        "--no-baselines",
        "--preset",
        "tiny",
        "--tasks",
        "face-age-gender",
        "face-adience",
        "--results",
        results,
        "--data-root",
        tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "face-adience data in" in done.stdout and "5 unknown age, 5 unknown gender" in done.stdout
    saved = records(results)
    assert {(r["job"]["task"], r["job"]["config"]["options"]["fold"], r["status"]) for r in saved} == {
        ("face-age-gender", None, "ok"),
        ("face-adience", 0, "ok"),
    }
    face = next(r for r in saved if r["job"]["task"] == "face-age-gender")
    assert face["primary_metric"] == "harmonic" and 0 <= face["best_primary"] <= 1
    board = (results / "leaderboard-tiny.md").read_text()
    assert "harmonic resnet18-face ↑" in board and "exact acc resnet18-adience ↑" in board
    assert "convnext_tiny" not in board
    assert any(p.name.endswith(".pt") for p in (tmp_path / "face-cache").iterdir())


def test_dev_preset_without_weights_says_how_to_get_them(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    utk = synthetic.generate_utkface(tmp_path / "utkface", count=30)
    monkeypatch.setenv("UTKFACE_ROOT", str(utk))
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("FACE_PRETRAINED_DIR", raising=False)
    args = (
        "submit",
        "submissions/example_loss.py",
        "--no-baselines",
        "--preset",
        "dev",
        "--tasks",
        "face-age-gender",
        "--archs",
        "resnet18",
        "--results",
        tmp_path / "results",
        "--no-wait",
    )
    code, _, err = run_main(capsys, monkeypatch, *args)
    assert code == 2 and err.count("\n") == 1
    assert "ImageNet weights for resnet18 not found" in err and "--no-pretrained" in err
    code, _, err = run_main(capsys, monkeypatch, *args, "--no-pretrained")
    assert code == 0, err
    pending = list((tmp_path / "results" / "queue" / "pending").glob("*.json"))
    assert len(pending) == 1
    assert json.loads(pending[0].read_text())["job"]["config"]["options"]["pretrained"] is False
