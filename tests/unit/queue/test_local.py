"""Local runs: the worker command they start, and the command-line checks of its options."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.cli import build_parser, main
from harness.cli.options import submit_request
from harness.commands.planning import execution
from harness.queue.local import Execution, worker_command


def test_local_workers_get_the_slots_and_threads_asked_for(tmp_path: Path) -> None:
    args = build_parser(["submit"]).parse_args(
        ["submit", "x.py", "--device", "cpu", "--slots-per-device", "2", "--threads-per-slot", "3"]
    )
    how = execution(submit_request(args))
    assert (how.device, how.slots_per_device, how.threads_per_slot) == ("cpu", 2, 3)
    command = worker_command(how)
    assert command[command.index("--devices") + 1] == "cpu"
    assert command[command.index("--slots-per-device") + 1] == "2"
    assert command[command.index("--threads-per-slot") + 1] == "3"
    assert "--threads-per-slot" not in worker_command(Execution(tmp_path, tmp_path, "cpu"))  # the worker decides


@pytest.mark.parametrize("command", ["worker", "baselines"])
def test_threads_per_slot_must_be_positive(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    code = main([command, "--threads-per-slot", "0", "--results", str(tmp_path)])
    assert code == 2 and "--threads-per-slot must be at least 1" in capsys.readouterr().err
