"""The CLI and the Python API are two front doors onto one library: the same request reaches
the same function, which plans each job and builds each board once, and both answer with
the same JSON."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

import harness
from harness import registry
from harness.api.errors import HarnessError
from harness.commands import leaderboard as board_command
from harness.commands import runs
from harness.commands.requests import SubmitRequest
from harness.outputs import ErrorOutput
from harness.store import save_record
from tests.helpers import REPO, run_main
from tests.unit.report.test_leaderboard_and_store import record

EXAMPLE = REPO / "submissions" / "example_loss.py"


def document(out: str) -> dict[str, Any]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


def counting(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[object]:
    """Wrap module.name so that each call is counted (and still made)."""
    calls: list[object] = []
    real = getattr(module, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, wrapper)
    return calls


def test_the_cli_and_the_api_send_the_same_request(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[SubmitRequest] = []

    def capture(request: SubmitRequest) -> runs.RunAnswer:
        seen.append(request)
        raise HarnessError("captured")

    monkeypatch.setattr(runs, "submit", capture)
    argv = ["submit", EXAMPLE, "--preset", "tiny", "--tasks", "cifar100-mtl", "--seeds", "1,2"]
    argv += ["--results", tmp_path, "--device", "cpu", "--epochs", "1", "--protocol", "heldout", "--no-baselines"]
    code, _, err = run_main(capsys, monkeypatch, *argv)
    assert code == 2 and "error: captured" in err
    answer = harness.submit(
        EXAMPLE,
        preset="tiny",
        tasks=["cifar100-mtl"],
        seeds=[1, 2],
        results=tmp_path,
        device="cpu",
        epochs=1,
        heldout=True,
        baselines=False,
    )
    assert isinstance(answer, ErrorOutput) and answer.exit_code == 2 and answer.error.message == "captured"
    from_cli, from_api = seen
    assert from_cli == from_api
    assert from_cli.protocol.key == "epochs=1,heldout" and from_cli.seeds == (1, 2) and not from_cli.baselines


def test_a_dry_run_answers_the_same_json_and_plans_once(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    plans = counting(monkeypatch, runs, "plan_jobs")
    methods = counting(monkeypatch, runs, "submission_method")
    argv = ["submit", EXAMPLE, "--preset", "tiny", "--results", tmp_path, "--device", "cpu", "--dry-run", "--json"]
    code, out, _ = run_main(capsys, monkeypatch, *argv)
    from_cli = document(out)
    tasks = len(registry.tasks.names())
    assert code == 0 and from_cli["dry_run"] and len(plans) == 1 and len(methods) == tasks
    from_api = harness.submit(EXAMPLE, preset="tiny", results=tmp_path, device="cpu", dry_run=True)
    from_api_json = json.loads(from_api.model_dump_json())
    assert from_api_json.pop("created_at") and from_cli.pop("created_at")  # made a second apart, maybe
    assert from_api_json == from_cli
    assert {job["method"] for job in from_cli["jobs"]} >= {"example_loss", "equal", "pcgrad"}


def test_a_board_is_built_once_and_answers_the_same_json(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    for seed, value in ((1, 60.0), (2, 61.0)):
        save_record(tmp_path, record("equal", "resnet20", seed, value))
    built = counting(monkeypatch, board_command, "load_board")
    code, out, _ = run_main(capsys, monkeypatch, "leaderboard", "--preset", "dev", "--results", tmp_path, "--json")
    assert code == 0 and len(built) == 1
    from_api = harness.leaderboard(results=tmp_path, preset="dev")
    undated = {k: v for k, v in json.loads(from_api.model_dump_json()).items() if k != "created_at"}
    assert undated == {k: v for k, v in document(out).items() if k != "created_at"}
    assert [cell.method for cell in from_api.cells] == ["equal"]


def test_validate_answers_the_same_json(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    timing = ("seconds", "median_ms_per_call", "ms_per_call", "created_at")

    def untimed(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: untimed(v) for k, v in value.items() if k not in timing}
        return [untimed(v) for v in value] if isinstance(value, list) else value

    code, out, _ = run_main(capsys, monkeypatch, "validate", EXAMPLE, "--epochs", "2", "--steps", "2", "--json")
    from_api = harness.validate(EXAMPLE, epochs=2, steps=2)
    assert code == 0 == from_api.exit_code
    assert untimed(json.loads(from_api.model_dump_json())) == untimed(document(out))


def refusal(answer: object) -> str:
    """The one-line message of an error document of bad input (the API answers, never raises)."""
    assert isinstance(answer, ErrorOutput) and answer.exit_code == 2 and answer.error.kind == "bad-input", answer
    return answer.error.message


def test_a_bad_argument_of_the_api_is_one_line_naming_it(tmp_path: Path) -> None:
    assert refusal(harness.submit(EXAMPLE, results=tmp_path, epochs=0)) == (
        "epochs: input should be greater than or equal to 1"
    )
    # the final evaluation is `final`, not a preset
    assert refusal(harness.submit(EXAMPLE, results=tmp_path, preset="final")).endswith(
        "preset 'final': expected one of tiny, smoke, screen, dev, full"
    )
    assert "preset 'nope'" in refusal(harness.leaderboard(results=tmp_path, preset="nope"))
    assert not (tmp_path / "queue").exists()


def test_negative_seeds_and_a_results_file_are_refused_before_anything_starts(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    # a negative seed would train and write `...-seed-1-...json`; a file as --results failed as a harness bug
    # (NotADirectoryError, exit code 3) after the sandbox check
    results = tmp_path / "results"
    assert refusal(harness.submit(EXAMPLE, results=results, seeds=[-1])) == (
        "seeds.0: input should be greater than or equal to 0"
    )
    code, _, err = run_main(capsys, monkeypatch, "submit", EXAMPLE, "--seeds", "-1", "--results", results)
    assert code == 2 and "--seeds takes whole numbers >= 0, got -1" in err and "Traceback" not in err
    assert not results.exists()
    file = tmp_path / "a-file"
    file.write_text("not a folder")
    assert re.fullmatch(r"results: /.*/a-file is not a folder", refusal(harness.submit(EXAMPLE, results=file)))
    assert "is not a folder" in refusal(harness.leaderboard(results=file))
    for argv in (("submit", EXAMPLE), ("baselines",), ("leaderboard",), ("status",), ("cancel", "x"), ("worker",)):
        with pytest.raises(SystemExit) as usage:  # argparse's usage error
            run_main(capsys, monkeypatch, *argv, "--results", file)
        err = capsys.readouterr().err
        assert usage.value.code == 2 and f"argument --results: {file} is not a folder" in err, argv
    assert file.read_text() == "not a folder"


def test_the_readme_example_imports_what_it_uses() -> None:
    from harness import Protocol, leaderboard, submit, validate  # noqa: F401

    assert Protocol(evaluation="heldout").key == "heldout"
