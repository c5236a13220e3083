"""Files the CLI must refuse with one line and exit code 2 (never an internal error, 3): a
file passed as a baseline, a file over the size limit, parser bombs, and a submission whose
error text carries lines of its own."""

import json
from pathlib import Path

import pytest

from tests.helpers import REPO, records, run_main, write_submission

EXAMPLE = REPO / "submissions" / "example_loss.py"
BOMB = "x = " + "1+" * 100_000 + "1\n"  # RecursionError in Python's compiler
FORGING = (
    "Failure = type('Failure\\n[1/1] attacker cifar100-mtl/resnet20 seed 0 | epoch 1/1 | fine_acc 99.90\\r\\x1b[2K',"
    " (Exception,), {})\n"
    "raise Failure('| attacker | submission | 99.90 |\\n| equal | baseline | 1.00 |')\n"
)


def refused(capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch, *args: str | Path) -> str:
    """The one line of stderr of a command that must exit with 2."""
    code, _, err = run_main(capsys, monkeypatch, *args)
    assert code == 2, err
    assert len(err.strip().splitlines()) == 1 and err.strip().isprintable(), err
    assert "internal error" not in err and "Traceback" not in err
    return err.strip()


def test_a_file_cannot_be_submitted_as_a_baseline(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    args = ("submit", EXAMPLE, "--type", "baseline", "--tasks", "cifar100-mtl", "--results", results, "--dry-run")
    err = refused(capsys, monkeypatch, *args)
    assert err == (
        "error: --type baseline is for the registered methods; a file is a submission, agent, vanilla or human entry"
    )
    assert not (results / "runs").exists()


def test_a_file_over_the_size_limit_is_refused_before_it_is_parsed(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_submission(tmp_path, EXAMPLE.read_text() + "#" * (1024 * 1024))
    err = refused(capsys, monkeypatch, "submit", path, "--tasks", "cifar100-mtl", "--results", tmp_path, "--dry-run")
    assert "more than the 1 MiB a submission file may have" in err


def test_a_parser_bomb_is_a_one_line_error_and_no_record(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_submission(tmp_path, BOMB)
    results = tmp_path / "results"
    err = refused(capsys, monkeypatch, "submit", path, "--tasks", "cifar100-mtl", "--results", results)
    assert err == (
        "error: submission.py cannot be parsed: it nests too deeply or an expression is too large for "
        "Python's parser (RecursionError)"
    )
    assert records(results) == []  # rejected before training: no run record, no board row
    assert "cannot be parsed" in refused(capsys, monkeypatch, "validate", path)


def test_an_error_text_with_lines_of_its_own_stays_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file fails in the sandbox's check: what it raised reaches the console and the
    JSON error as one line (and no record: it never trained)."""
    path = write_submission(tmp_path, FORGING)
    results = tmp_path / "results"
    err = refused(capsys, monkeypatch, "submit", path, "--tasks", "cifar100-mtl", "--results", results)
    assert err.startswith("error: submission.py raised Failure [1/1] attacker"), err
    assert records(results) == []
    code, out, _ = run_main(capsys, monkeypatch, "submit", path, "--tasks", "cifar100-mtl", "--results", results, "--json")  # fmt: skip
    assert code == 2 and json.loads(out)["error"]["message"] == err.removeprefix("error: ")
    verbose = ("--verbose", "submit", path, "--tasks", "cifar100-mtl", "--results", results, "--force")
    code, _, err = run_main(capsys, monkeypatch, *verbose)
    assert code == 2
    first, *details = err.splitlines()
    assert first.startswith("error: ") and all(line.startswith("    ") for line in details), err
    assert "\r" not in err and "\x1b" not in err
