"""The Python API never writes to stdout, down to the file descriptor: a program runs a
validation and a submit on the tiny preset (whose worker process writes its progress) and
finds on its stdout only what it printed itself. The mechanism's quick tests:
tests/unit/test_python_api.py."""

from __future__ import annotations

import json
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from tests.helpers import PYTHON, REPO

pytestmark = pytest.mark.slow  # trains a job (half a minute on 2 cores)


def test_validate_and_submit_leave_stdout_to_the_program(tmp_path: Path, data_root: Path) -> None:
    loss = tmp_path / "quiet_loss.py"
    shutil.copy(REPO / "submissions" / "example_loss.py", loss)
    script = textwrap.dedent(
        f"""
        import json
        import harness

        print("script: start", flush=True)
        report = harness.validate({str(loss)!r}, epochs=1, steps=2)
        print("script: validated", report.calls, flush=True)
        run = harness.submit(
            {str(loss)!r}, preset="tiny", tasks=["cifar100-mtl"], results={str(tmp_path / "results")!r},
            baselines=False, device="cpu", data_root={str(data_root)!r}, epochs=1,
        )
        print("script: submitted", json.dumps([job.status for job in run.jobs]), run.exit_code, flush=True)
        """
    )
    ran = subprocess.run([PYTHON, "-c", script], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert ran.returncode == 0, ran.stderr
    lines = ran.stdout.splitlines()
    assert lines == ["script: start", "script: validated 2", 'script: submitted ["ok"] 0'], ran.stdout
    # what would have reached stdout: the commands' progress and the worker process's lines
    assert "checked in the" in ran.stderr and "enqueued" in ran.stderr  # the library's prints
    assert "epoch 1/1" in ran.stderr  # the worker's (a child process writing to fd 1)
    assert json.loads(lines[2].split(" ", 2)[2].rsplit(" ", 1)[0]) == ["ok"]
