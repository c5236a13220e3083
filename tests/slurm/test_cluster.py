"""The test cluster itself: a batch job runs and is accounted (sacct, which submitit needs
to notice jobs killed from outside), and submitit runs a function in our interpreter and
brings its result back."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import submitit

from harness.queue.slurm import slurm_states
from tests.slurm.payloads import where_am_i


def sacct_state(job_id: str) -> str:
    out = subprocess.run(
        ["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State"], capture_output=True, text=True, check=True
    ).stdout
    return out.strip()


def final_state(job_id: str, seconds: float = 60) -> str:
    """The job's state once Slurm has finished with it (the result may come back first), as
    `status` reads it: an array task that never started has only its array's row in sacct."""
    deadline = time.monotonic() + seconds
    state = slurm_states([job_id]).get(job_id, "")
    while state in ("", "PENDING", "RUNNING", "COMPLETING") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = slurm_states([job_id]).get(job_id, "")
    return state


def test_a_batch_job_runs_and_is_accounted(slurm_cluster: Path, tmp_path: Path) -> None:
    output = tmp_path / "out.txt"
    job_id = subprocess.run(
        ["sbatch", "--parsable", "-o", str(output), "--wrap", "echo ran as $SLURM_JOB_ID"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert final_state(job_id) == "COMPLETED"
    assert sacct_state(job_id) == "COMPLETED"  # accounted
    assert output.read_text().strip() == f"ran as {job_id}"


def test_submitit_runs_a_function_in_this_interpreter(slurm_cluster: Path, tmp_path: Path) -> None:
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(timeout_min=15, slurm_partition="debug", cpus_per_task=1)
    job = executor.submit(where_am_i)
    job_id, python = job.result()
    assert job_id == job.job_id
    assert Path(python).resolve() == Path(sys.executable).resolve()
    assert final_state(job.job_id) == "COMPLETED"
