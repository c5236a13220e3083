"""Bad input is one line and the right exit code (issue 33, item 3): the submission file's
size limit (1 MiB by default, configurable up to a ceiling, the same for every reader of the
stored copy), an unknown preset, a board with unreadable records (exit code 1), a board with
no runs (exit code 1, naming the presets found), and a file the check rejects (no record).
Negative seeds and a file as --results are in test_front_doors.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import harness
from harness.api.errors import HarnessError, SubmissionError
from harness.commands import requests
from harness.commands.requests import parse_size
from harness.oracle.guest import loader
from harness.oracle.guest.loader import SubmissionFault, read_source
from harness.store import save_record
from harness.submission_store import read_bounded
from tests.helpers import REPO, records, run_main, write_submission
from tests.unit.report.test_leaderboard_and_store import record

EXAMPLE = REPO / "submissions" / "example_loss.py"


def sized(folder: Path, size: int, name: str = "sized.py") -> Path:
    """The example submission padded with a comment to exactly `size` bytes."""
    body = EXAMPLE.read_bytes()
    assert size >= len(body) + 1
    path = folder / name
    path.write_bytes(body + b"#" * (size - len(body) - 1) + b"\n")
    assert path.stat().st_size == size
    return path


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert "usage:" not in err and "Traceback" not in err and "internal error" not in err
    return lines[0]


def document(out: str) -> dict:
    lines = [line for line in out.splitlines() if line.strip()]
    assert len(lines) == 1, out
    return json.loads(lines[0])


# --- (a) the submission file's size limit -------------------------------------------------


def test_sizes_parse_with_units_and_stay_under_the_ceiling() -> None:
    assert parse_size("2MiB") == 2 * 1024 * 1024 and parse_size("512KiB") == 512 * 1024
    assert parse_size("1MB") == 1_000_000 and parse_size("300000") == 300_000 and parse_size("1.5 mib") == 1572864
    assert parse_size("4MiB") == requests.MAX_FILE_BYTES_CEILING
    for bad in ("5MiB", "0", "lots", "2GiB", "-1"):
        with pytest.raises(ValueError):
            parse_size(bad)
    # the request module imports no torch: its numbers are the guest loader's, kept equal here
    assert requests.DEFAULT_MAX_FILE_BYTES == loader.MAX_SOURCE_BYTES == 1024 * 1024
    assert requests.MAX_FILE_BYTES_CEILING == loader.SOURCE_BYTES_CEILING == 4 * 1024 * 1024


def test_a_file_one_byte_over_the_limit_is_one_line_in_submit_and_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    over = sized(tmp_path, 4001, "over.py")
    expected = (
        "error: over.py has 4,001 bytes, more than the 4,000 bytes a submission file may have "
        "(--max-file-size or $MTL_BENCH_MAX_SUBMISSION_BYTES raise it, up to 4 MiB)"
    )
    for args in (
        ("validate", over),
        ("submit", over, "--tasks", "cifar100-mtl", "--results", results, "--dry-run"),
        ("submit", over, "--tasks", "cifar100-mtl", "--results", results),
        ("final", over, "--tasks", "cifar100-mtl", "--results", results, "--dry-run"),
    ):
        code, _, err = run_main(capsys, monkeypatch, *args, "--max-file-size", "4000")
        assert code == 2 and one_line(err) == expected, args
    assert not (results / "queue" / "submissions").exists() or not any((results / "queue" / "submissions").iterdir())
    # the environment variable sets the default; the option wins over it
    monkeypatch.setenv(requests.MAX_FILE_ENV, "4000")
    code, _, err = run_main(capsys, monkeypatch, "validate", over)
    assert code == 2 and one_line(err) == expected
    code, out, _ = run_main(capsys, monkeypatch, "submit", over, "--tasks", "cifar100-mtl", "--results", results, "--dry-run", "--max-file-size", "4001")  # fmt: skip
    assert code == 0 and "dry run: nothing was queued" in out
    monkeypatch.setenv(requests.MAX_FILE_ENV, "a lot")
    code, _, err = run_main(capsys, monkeypatch, "validate", over)
    assert code == 2 and "$MTL_BENCH_MAX_SUBMISSION_BYTES takes a size such as 2MiB" in one_line(err)
    monkeypatch.delenv(requests.MAX_FILE_ENV)
    # over the ceiling: refused as a setting, before the file is read
    code, _, err = run_main(capsys, monkeypatch, "validate", over, "--max-file-size", "17MiB")
    assert code == 2 and one_line(err) == (
        "error: --max-file-size must be between 1 byte and 4 MiB (the ceiling), got 17,825,792 bytes"
    )
    code, out, _ = run_main(capsys, monkeypatch, "validate", over, "--max-file-size", "4000", "--json")
    assert code == 2 and document(out)["error"]["message"] == expected.removeprefix("error: ")


def test_the_default_limit_is_one_mebibyte(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(requests.MAX_FILE_ENV, raising=False)
    results = tmp_path / "results"
    args = ("--tasks", "cifar100-mtl", "--results", results, "--dry-run")
    code, out, err = run_main(capsys, monkeypatch, "submit", sized(tmp_path, 1024 * 1024, "fits.py"), *args)
    assert code == 0 and "dry run" in out, err  # 400 KB used to be refused (256 KiB)
    code, _, err = run_main(capsys, monkeypatch, "submit", sized(tmp_path, 1024 * 1024 + 1, "big.py"), *args)
    assert code == 2 and one_line(err).startswith(
        "error: big.py has 1,048,577 bytes, more than the 1 MiB a submission file may have"
    )


def test_a_file_under_the_limit_passes_the_size_check_of_validate(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    """2 MiB allowed: a 1.5 MiB file is validated in the sandbox (the guest reads it under
    the ceiling, as the worker and the oracle's host side do)."""
    path = sized(tmp_path, 3 * 512 * 1024, "big.py")
    code, out, err = run_main(capsys, monkeypatch, "validate", path, "--max-file-size", "2MiB", "--epochs", "1", "--steps", "2")  # fmt: skip
    # it ran in the sandbox (exit code 1 only where the loaded CPU makes the calls "too slow")
    assert code in (0, 1) and f"validated {path} in the" in out and "may have" not in out + err, out + err


def test_the_later_readers_take_what_the_front_door_took_and_no_more_than_the_ceiling(tmp_path: Path) -> None:
    """The stored copy is read again by the sandboxed check, the worker and the oracle's host
    side (verified against its hash): under the ceiling, never under the default."""
    big = sized(tmp_path, 2 * 1024 * 1024, "big.py")
    assert read_source(big)[0].startswith(EXAMPLE.read_text())  # the guest's and the check's default
    assert len(read_bounded(big, loader.SOURCE_BYTES_CEILING)) == 2 * 1024 * 1024
    with pytest.raises(SubmissionFault, match=r"more than the 1 MiB a submission file may have \(--max-file-size"):
        read_source(big, loader.MAX_SOURCE_BYTES)
    with pytest.raises(SubmissionError, match="more than the 1 MiB"):
        read_bounded(big, loader.MAX_SOURCE_BYTES)
    huge = tmp_path / "huge.py"
    with huge.open("wb") as out:  # sparse: no disk, and read no further than the ceiling
        out.truncate(loader.SOURCE_BYTES_CEILING + 1)
    with pytest.raises(SubmissionFault, match=r"huge.py has 4,194,305 bytes, more than the 4 MiB .* may have$"):
        read_source(huge)
    with pytest.raises(SubmissionError, match="more than the 4 MiB"):
        read_bounded(huge, loader.SOURCE_BYTES_CEILING)


def test_the_worker_and_the_oracle_read_under_the_ceiling() -> None:
    """They verify the stored copy against its hash: the front door's limit was applied."""
    import inspect

    from harness.oracle import client
    from harness.queue import worker

    for module in (worker, client):
        source = inspect.getsource(module)
        assert "SOURCE_BYTES_CEILING)" in source and "MAX_SOURCE_BYTES" not in source, module.__name__


# --- (e) an unknown preset ----------------------------------------------------------------


@pytest.mark.parametrize(
    "argv, known",
    [
        (("submit", str(EXAMPLE)), "tiny, smoke, screen, dev, full"),
        (("baselines",), "tiny, smoke, screen, dev, full"),
        (("leaderboard",), "tiny, smoke, screen, dev, full, final"),
    ],
)
def test_an_unknown_preset_is_one_line(
    argv: tuple[str, ...], known: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    code, out, err = run_main(capsys, monkeypatch, *argv, "--preset", "nope", "--results", results)
    assert code == 2 and one_line(err) == f"error: unknown preset 'nope': expected one of {known}"
    code, out, err = run_main(capsys, monkeypatch, *argv, "--preset", "nope", "--results", results, "--json")
    answer = document(out)
    assert code == 2 and answer["exit_code"] == 2
    assert answer["error"]["message"] == f"unknown preset 'nope': expected one of {known}"
    assert not results.exists()


def test_an_unknown_preset_from_python_is_the_same_line(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"unknown preset 'nope': expected one of tiny, smoke, screen, dev, full \["):
        requests.SubmitRequest(file=EXAMPLE, preset="nope")
    with pytest.raises(ValueError, match=r"unknown preset 'nope': expected one of .*, full, final \["):
        requests.LeaderboardRequest(preset="nope")


# --- (d) unreadable records and (f) an empty board: exit code 1 ---------------------------


def test_a_board_with_an_unreadable_record_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    save_record(results, record("equal", "resnet20", 1, 55.0, preset="dev"))
    args = ("leaderboard", "--preset", "dev", "--results", results)
    code, out, _ = run_main(capsys, monkeypatch, *args)
    assert code == 0 and "| equal" in out
    broken = save_record(results, record("mine", "resnet20", 2, 60.0, "submission", preset="dev"))
    broken.write_text('{"schema_version": 1, "key": "trunc')
    code, out, err = run_main(capsys, monkeypatch, *args)
    assert code == 1 and "| mine" in out and f"unreadable run record, counted as a failed run: {broken}" in err
    code, out, _ = run_main(capsys, monkeypatch, *args, "--json")
    answer = document(out)
    assert code == 1 and answer["exit_code"] == 1 and answer["command"] == "leaderboard"
    assert [item.split(":")[0] for item in answer["unreadable_records"]] == [str(broken)]
    assert any(cell["method"] == "mine" and cell["unreadable"] for cell in answer["cells"])
    from harness.commands.leaderboard import leaderboard

    # the Python API's answer is this document: the exit code travels in it
    assert leaderboard(requests.LeaderboardRequest(preset="dev", results=results)).output.exit_code == 1
    assert harness.leaderboard(results=results, preset="dev").exit_code == 1


def test_a_board_without_runs_names_the_presets_found_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    results.mkdir()
    code, out, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", "smoke", "--results", results)
    assert code == 1 and out == ""
    assert one_line(err) == f"error: no run records for preset smoke in {results}/; found: none"
    for seed in (1, 2, 3):
        save_record(results, record("equal", "resnet20", seed, 55.0, preset="tiny"))
    save_record(results, record("equal", "resnet20", 1, 55.0, preset="dev"))
    code, out, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", "smoke", "--results", results, "--json")
    answer = document(out)
    message = f"no run records for preset smoke in {results}/; found: dev (1 record), tiny (3 records)"
    assert code == 1 and answer["exit_code"] == 1 and answer["error"]["message"] == message
    code, _, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", "dev", "--protocol", "heldout", "--results", results)  # fmt: skip
    assert code == 1 and one_line(err) == (
        f"error: no run records for preset dev under the protocol heldout in {results}/; "
        "found: dev (1 record), tiny (3 records)"
    )
    from harness.commands.leaderboard import leaderboard

    with pytest.raises(HarnessError, match="no run records for preset smoke") as raised:
        leaderboard(requests.LeaderboardRequest(preset="smoke", results=results))
    assert raised.value.exit_code == 1
    answer = harness.leaderboard(results=results, preset="smoke")  # the Python API answers with the error
    assert answer.exit_code == 1 and message in answer.model_dump_json()
    code, out, _ = run_main(capsys, monkeypatch, "leaderboard", "--preset", "tiny", "--results", results)
    assert code == 0 and "| equal" in out


# --- (g) a file rejected before training leaves no record ---------------------------------


def test_a_file_the_check_rejects_leaves_no_record_and_is_checked_again(
    tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write_submission(tmp_path, "x = 1\nraise RuntimeError('boom')\n")
    results = tmp_path / "results"
    args = ("submit", path, "--tasks", "cifar100-mtl", "--preset", "tiny", "--results", results, "--sandbox", "process")
    for _ in range(2):  # the rerun checks it again (no record says it was tried)
        code, out, err = run_main(capsys, monkeypatch, *args, "--json")
        assert code == 2, err
        assert "RuntimeError: boom" in document(out)["error"]["message"]
        assert "checked" not in err
        assert records(results) == []
    assert not (results / "runs").exists()
    code, _, err = run_main(capsys, monkeypatch, "leaderboard", "--preset", "tiny", "--results", results)
    assert code == 1 and "no run records for preset tiny" in err  # no board row
