"""Which methods the commands run from the method families (issue 31): `baselines --controls`
and `--frontier`, `--only` with a family's member, the controls in the full preset's and the
final evaluation's baseline sets (never in `submit`'s default four), and `plugins`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import registry
from harness.commands import runs
from harness.commands.planning import chosen_tasks
from harness.commands.requests import BaselinesRequest, SubmitRequest
from harness.methods.resolve import submit_baselines
from tests.helpers import REPO, run_main

EXAMPLE = REPO / "submissions" / "example_loss.py"
TASKS = registry.tasks.load_all()[0]


def planned(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, tmp: Path, *flags: str
) -> tuple[dict[str, list[str]], str]:
    """`baselines --dry-run --preset tiny --json FLAGS`: task -> the methods planned on it, and
    what went to stderr (the progress and notes, with --json)."""
    argv: list[str | Path] = ["baselines", "--dry-run", "--preset", "tiny", "--device", "cpu", "--results", tmp]
    argv += ["--json", *flags]
    code, out, err = run_main(capsys, monkeypatch, *argv)
    assert code == 0, err
    document = json.loads(out)
    assert document["dry_run"] and document["command"] == "baselines"
    methods: dict[str, list[str]] = {}
    for job in document["jobs"]:
        methods.setdefault(job["task"], [])
        if job["method"] not in methods[job["task"]]:
            methods[job["task"]].append(job["method"])
    return methods, err


def members(family: str, task: str) -> list[str]:
    return list(registry.members(family, TASKS[task].loss_names))


def test_controls_plan_exactly_each_tasks_own_controls(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    methods, _ = planned(capsys, monkeypatch, tmp_path, "--controls")
    assert methods == {task: [f"single:{loss}" for loss in TASKS[task].loss_names] for task in TASKS}
    assert methods["cifar100-mtl"] == ["single:fine", "single:coarse"]


def test_the_frontier_plans_its_members_and_equal(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    methods, _ = planned(capsys, monkeypatch, tmp_path, "--frontier", "--tasks", "cifar100-mtl")
    assert methods == {"cifar100-mtl": ["equal", *members("fixed-weights", "cifar100-mtl")]}
    assert len(methods["cifar100-mtl"]) == 9


def test_only_names_members_where_tasks_have_them(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    methods, err = planned(capsys, monkeypatch, tmp_path, "--only", "single:fine", "pcgrad", "--controls")
    assert methods["cifar100-mtl"] == ["single:fine", "pcgrad", "single:coarse"]  # no member twice
    assert methods["face-age-gender"] == ["pcgrad", "single:age", "single:gender"]
    assert "note: single:fine left out on face-age-gender" in err


def test_a_member_no_chosen_task_has_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    argv: list[str | Path] = ["baselines", "--dry-run", "--preset", "tiny", "--device", "cpu", "--results", tmp_path]
    code, out, err = run_main(capsys, monkeypatch, *argv, "--only", "single:fine", "--tasks", "face-age-gender")
    assert code == 2 and out == ""
    assert err.strip().count("\n") == 0, err
    assert "single:fine" in err and "single:age, single:gender" in err
    assert not (tmp_path / "queue").exists()


def names(methods: dict[str, list[Any]]) -> dict[str, list[str]]:
    return {task: [method.spec.name for method in found] for task, found in methods.items()}


def test_the_full_preset_adds_the_controls_to_every_registered_method() -> None:
    tasks = chosen_tasks(("cifar100-mtl",))
    full = names(runs.baseline_methods(BaselinesRequest(preset="full"), tasks))["cifar100-mtl"]
    dev = names(runs.baseline_methods(BaselinesRequest(preset="dev"), tasks))["cifar100-mtl"]
    assert dev == registry.methods.names()
    assert full == [*registry.methods.names(), "single:fine", "single:coarse"]
    assert not any(name.startswith("fixed-weights:") for name in full)


def test_final_runs_the_controls_beside_a_submission_and_submit_does_not() -> None:
    tasks = chosen_tasks(("cifar100-mtl",))
    submission: Any = object()  # only placed after the baselines
    final = SubmitRequest(command="final", preset="final", file=EXAMPLE)
    found = runs.with_baselines({"cifar100-mtl": submission}, tasks, final)["cifar100-mtl"]
    assert found[-1] is submission
    assert [m.spec.name for m in found[:-1]] == [*submit_baselines(), "single:fine", "single:coarse"]
    for preset in ("tiny", "full"):
        submit = SubmitRequest(preset=preset, file=EXAMPLE)
        found = runs.with_baselines({"cifar100-mtl": submission}, tasks, submit)["cifar100-mtl"]
        assert [m.spec.name for m in found[:-1]] == list(submit_baselines())


def test_help_explains_both_flags_in_a_line_each(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "250")
    with pytest.raises(SystemExit):
        run_main(capsys, monkeypatch, "baselines", "--help")
    lines = capsys.readouterr().out.splitlines()
    for flag, words in (("--controls", "single-task controls"), ("--frontier", "fixed-weight frontier")):
        (line,) = [line for line in lines if line.strip().startswith(flag)]
        assert words in line, line


def test_plugins_lists_the_families_and_their_members_per_task(
    capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, out, _ = run_main(capsys, monkeypatch, "plugins")
    assert code == 0
    assert "method_families (mtl_bench.method_families):" in out
    assert "| single " in out and "| fixed-weights " in out and "baselines.controls:SINGLE_TASK" in out
    rows = [line for line in out.splitlines() if line.startswith("| cifar100-mtl ")]
    assert any("single:fine, single:coarse" in row for row in rows)
    assert any("fixed-weights:0.1-0.9" in row and "fixed-weights:0.9-0.1" in row for row in rows)
