"""Hostile messages: huge numbers in the oracle's answers and saved state, and error texts
that carry lines of their own. Each must fail the run with a specific reason (never an
internal error), reach the record and the console as one line, and leave the runner and the
other records intact. The attacks cross the sandbox boundary, so they run in each isolating
backend."""

from __future__ import annotations

import io
import unicodedata
from pathlib import Path

import pytest

from harness.api.records import JobSpec, RunRecord, TrainConfig
from harness.api.sandbox import Sandbox
from harness.methods.resolve import submission_method
from harness.run.jobs import plan, run_job
from harness.run.progress import JobProgress
from tests.hostile.corpus import CONFIG, CPU, HOSTILE, ISOLATING, LIMITS, TASK, assert_survived

pytestmark = pytest.mark.slow  # trains through every backend; quick: tests/unit/oracle/test_untrusted_input.py

TWO_EPOCHS = CONFIG.model_copy(update={"epochs": 2})  # a checkpoint is saved after the first
FAKE_LINE = "[1/1] attacker"


def attack(
    arena: dict, name: str, sandbox: Sandbox, tmp_path: Path, config: TrainConfig = CONFIG, **values: object
) -> tuple[RunRecord, str]:
    """Run the attack `name` (its __PLACEHOLDERS__ given as `values`) as one job with a
    checkpoint; its record and what the job printed."""
    source = (HOSTILE / f"{name}.py").read_text()
    for key, value in values.items():
        source = source.replace(f"__{key}__", str(value))
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    method = submission_method(path, "attacker", "submission", TASK.loss_names, sandbox, LIMITS, check=False)
    job = JobSpec(task=TASK.name, arch="resnet20", seed=0, preset="hostile", config=config)
    console = io.StringIO()
    record = run_job(
        plan(method, [job])[0],
        TASK,
        CPU,
        arena["data_root"],
        arena["results"],
        JobProgress("attacker", config.epochs, console),
        checkpoint=tmp_path / "checkpoint.pt",
    )
    return record, console.getvalue()


def controls(text: str, allowed: str = "") -> list[str]:
    """The control, format and separator characters in `text` (but `allowed`)."""
    return [ch for ch in text if ch not in allowed and unicodedata.category(ch)[0] in "CZ" and ch != " "]


def assert_one_line(text: str) -> None:
    assert not controls(text), f"{controls(text)!r} in {text!r}"


@pytest.mark.parametrize("sandbox", ISOLATING)
@pytest.mark.parametrize("digits", [400, 5000])
def test_a_huge_integer_in_an_answer_is_a_protocol_violation(
    arena: dict, tmp_path: Path, sandbox: Sandbox, digits: int
) -> None:
    record, _ = attack(arena, "huge_answer", sandbox, tmp_path, DIGITS=digits)
    assert record.status == "failed" and record.error is not None
    assert record.error.startswith("protocol violation during forward at epoch 0: an integer of"), record.error
    assert "internal error" not in record.error
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
@pytest.mark.parametrize("digits", [400, 5000])
def test_a_huge_integer_in_the_saved_state_is_a_protocol_violation(
    arena: dict, tmp_path: Path, sandbox: Sandbox, digits: int
) -> None:
    record, _ = attack(arena, "huge_state", sandbox, tmp_path, TWO_EPOCHS, DIGITS=digits, FORGE=True)
    assert record.status == "failed" and record.error is not None
    assert record.error.startswith("protocol violation during saving the loss state: an integer of"), record.error
    assert len(record.epochs) == 1  # the first epoch trained; the run stopped where it saved
    assert not (tmp_path / "checkpoint.pt").exists()
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_a_huge_integer_attribute_only_turns_checkpoints_off(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    """Not forged: the oracle's codec refuses the integer, so the job runs on without
    checkpoints, and says so."""
    record, console = attack(arena, "huge_state", sandbox, tmp_path, TWO_EPOCHS, DIGITS=400, FORGE=False)
    assert record.status == "ok", record.error
    assert "no checkpoints: the loss state cannot be saved" in console
    assert "holds an integer of more than 100 digits" in console
    assert_survived(arena)


@pytest.mark.parametrize("sandbox", ISOLATING)
def test_error_texts_cannot_forge_console_lines(arena: dict, tmp_path: Path, sandbox: Sandbox) -> None:
    record, console = attack(arena, "forged_lines", sandbox, tmp_path, TWO_EPOCHS)
    assert record.status == "failed" and record.error is not None
    assert record.error.startswith("MultiTaskLoss.forward raised Failure"), record.error
    assert record.error.endswith("at epoch 1")
    assert_one_line(record.error)
    assert record.error_details and "Failure" in record.error_details
    assert not controls(record.error_details, allowed="\n")
    assert "note: no checkpoints: the loss state cannot be saved" in console  # the class name, quoted
    # the worker prints the record's error; nothing the attacker wrote starts a line of its own
    JobProgress("attacker", 2, console_out := io.StringIO()).message(f"attacker FAILED: {record.error}")
    for line in (console + console_out.getvalue()).splitlines():
        assert line.startswith("attacker ") and not line.startswith(FAKE_LINE), line
        assert_one_line(line)
    assert_survived(arena)
