"""The Slurm executor: the queue's pending jobs go to Slurm in fixed bundles.

A bundle is K harness jobs (K = --slots-per-device) that share one Slurm job and its one
device; the Slurm job runs `python -m harness worker --keys-file BUNDLE` with K slots, which
claims only the bundle's jobs from the shared queue. Why bundles fixed at submission, not
a pool of generic workers: Slurm accounts, limits and cancels per Slurm job, so each
harness job must belong to one Slurm job (`status` shows it, `cancel` cancels it), and
packing small CIFAR jobs on one GPU must survive. The bundles of one submission go as
job arrays (one sbatch per MaxArraySize bundles: submitit throttles single submissions to
5 a second), each bundle one array task with its own Slurm job id (`123_4`). The shared
queue keeps its promises unchanged: a job runs once (leases, records by atomic rename), a
requeued Slurm job (preemption, time limit; submitit resubmits it through
`Bundle.checkpoint`) hands its earlier run's harness jobs back and resumes them from
their epoch checkpoints, and a job with a record is never run again.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from harness.api.errors import HarnessError
from harness.queue.jobqueue import JobQueue
from harness.store import atomic_write_text, current_umask


class SlurmOptions(BaseModel):
    """How the bundles are asked of Slurm (the --slurm-* options)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    partition: str | None = None
    account: str | None = None
    time_minutes: int = Field(default=240, ge=1, description="each Slurm job's time limit")
    gpus_per_job: int = Field(default=0, ge=0, description="0: the bundle trains on the CPU")
    cpus_per_job: int | None = Field(default=None, ge=1, description="default: one per slot")
    extra: dict[str, str | bool] = Field(
        default_factory=dict, description="more sbatch options, KEY=VALUE (True: a bare --KEY)"
    )

    @property
    def device_type(self) -> str:
        return "cuda" if self.gpus_per_job > 0 else "cpu"


def check_slurm() -> None:
    """A one-line error, before anything is queued, when Slurm cannot take jobs here."""
    if shutil.which("sbatch") is None:
        raise HarnessError("--executor slurm: sbatch is not on PATH (run on a Slurm login node)")
    try:
        answer = subprocess.run(["sinfo", "-h", "-o", "%P"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise HarnessError(f"--executor slurm: Slurm does not answer (sinfo: {exc})") from None
    if answer.returncode != 0:
        lines = [line for line in answer.stderr.splitlines() if line.strip()]
        reason = lines[-1].strip() if lines else f"exit code {answer.returncode}"
        raise HarnessError(f"--executor slurm: Slurm does not answer (sinfo: {reason})")


class Bundle:
    """What one Slurm job runs: a worker serving the bundle's keys (picklable for submitit)."""

    def __init__(
        self,
        results: str,
        keys_file: str,
        device: str,
        slots: int,
        threads: int,
        allow_process: bool = False,
        tensorboard: str | None = None,
    ) -> None:
        self.results, self.keys_file, self.device = results, keys_file, device
        self.slots, self.threads = slots, threads
        self.allow_process = allow_process  # jobs of the process sandbox, named by the user who submitted
        self.tensorboard = tensorboard  # the jobs write their curves there while they train
        self.umask = current_umask()  # the submitter's (--group-writable: 002), whatever the node's default

    def command(self) -> list[str]:
        tensorboard = getattr(self, "tensorboard", None)  # None in a bundle pickled before it existed
        return [
            sys.executable,
            "-m",
            "harness",
            "worker",
            "--devices",
            self.device,
            "--slots-per-device",
            str(self.slots),
            "--threads-per-slot",
            str(self.threads),
            "--results",
            self.results,
            "--keys-file",
            self.keys_file,
            "--exit-when-idle",
            *(["--allow-process-sandbox"] if self.allow_process else []),
            *(["--tensorboard", tensorboard] if tensorboard else []),
        ]

    def __call__(self) -> int:
        """Run the worker in a process group of its own; however this ends (submitit's
        preemption handler exits from inside the wait), the whole group is stopped, so no
        slot or oracle of this run outlives it to race the requeued run."""
        umask = getattr(self, "umask", None)  # None in a bundle pickled before it existed
        if umask is not None:  # Slurm gives a job its submitter's umask; this holds where it does not
            os.umask(umask)
        process = subprocess.Popen(self.command(), start_new_session=True)
        try:
            code = process.wait()
        finally:
            stop_group(process)
        if code != 0:
            raise RuntimeError(f"the bundle's worker exited with code {code}")
        return code

    def checkpoint(self, *args: Any, **kwargs: Any) -> Any:
        """Preempted or out of time: submitit requeues the same bundle; its jobs resume from
        their checkpoints once their leases expire."""
        import submitit

        return submitit.helpers.DelayedSubmission(self)


def stop_group(process: subprocess.Popen[bytes], grace_seconds: float = 10.0) -> None:
    """SIGTERM the process's group, then SIGKILL what is left after the grace period."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        if sig == signal.SIGTERM:
            try:
                process.wait(grace_seconds)
            except subprocess.TimeoutExpired:
                pass
            time.sleep(0.2)  # the group's other members take their SIGTERM too


def bundles_of(keys: Sequence[str], size: int) -> list[list[str]]:
    return [list(keys[start : start + size]) for start in range(0, len(keys), size)]


def submit_bundles(
    queue: JobQueue,
    keys: Sequence[str],
    results: Path,
    slots: int,
    options: SlurmOptions,
    threads_per_slot: int | None = None,
    allow_process: bool = False,
    tensorboard: Path | None = None,
) -> list[Any]:
    """One Slurm job per bundle of `slots` keys; the submitit jobs, in bundle order. Each
    pending queue entry records its Slurm job id. Each slot gets `threads_per_slot` CPU
    threads (default: the Slurm job's CPUs shared by its slots). With `tensorboard` (a
    folder the compute nodes share), the bundles' jobs write their curves there live."""
    import submitit

    folder = (queue.root / "slurm").resolve()
    executor = submitit.AutoExecutor(folder=str(folder / "%j"), cluster="slurm")
    cpus = options.cpus_per_job or slots
    parameters: dict[str, Any] = {
        "timeout_min": options.time_minutes,
        "cpus_per_task": cpus,
        "name": "mtl-bench",
        "slurm_additional_parameters": dict(options.extra),
    }
    if options.partition:
        parameters["slurm_partition"] = options.partition
    if options.account:
        parameters["slurm_account"] = options.account
    if options.gpus_per_job:
        parameters["gpus_per_node"] = options.gpus_per_job
    device = "cuda" if options.gpus_per_job else "cpu"
    bundles = bundles_of(keys, slots)
    jobs: list[Any] = []
    per_array = max_array_size()
    for start in range(0, len(bundles), per_array):
        chunk = bundles[start : start + per_array]
        calls = []
        for number, bundle in enumerate(chunk, start):
            keys_file = folder / "bundles" / f"{time.time_ns()}-{number}.keys"
            atomic_write_text(keys_file, "\n".join(bundle) + "\n")
            calls.append(
                Bundle(
                    str(results.resolve()),
                    str(keys_file.resolve()),  # the compute node's working folder may differ
                    device,
                    len(bundle),
                    threads_per_slot or max(1, cpus // len(bundle)),
                    allow_process,
                    str(tensorboard.resolve()) if tensorboard is not None else None,
                )
            )
        # all the chunk's bundles in one sbatch (a job array; Slurm runs as many at once as
        # it can): submitit sends at most 5 single submissions a second
        executor.update_parameters(**parameters, slurm_array_parallelism=len(chunk))
        try:
            with executor.batch():
                submitted = [executor.submit(call) for call in calls]
        except Exception as exc:  # submitit wraps sbatch's refusal
            message = str(exc).strip().splitlines()
            raise HarnessError(
                f"sbatch refused the bundles: {message[-1] if message else type(exc).__name__}"
            ) from None
        for bundle, job in zip(chunk, submitted, strict=True):
            for key in bundle:
                queue.annotate(key, slurm_job=str(job.job_id))
        jobs.extend(submitted)
    return jobs


def max_array_size() -> int:
    """The cluster's MaxArraySize (tasks per job array), or Slurm's default of 1001."""
    try:
        answer = subprocess.run(["scontrol", "show", "config"], capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return 1001
    for line in answer.stdout.splitlines():
        name, _, value = line.partition("=")
        if name.strip() == "MaxArraySize" and value.strip().isdigit():
            return max(1, int(value.strip()))
    return 1001


def slurm_states(job_ids: Sequence[str]) -> dict[str, str]:
    """Slurm's state of each job id (squeue for live jobs, sacct for ended ones); ids it
    cannot tell are left out (no Slurm here, or no accounting). An array task that never
    started has no row of its own in sacct: it is read from its array's row (`4_[2-3]`,
    or `4` when no task of the array started)."""
    ids = sorted(set(job_ids))
    if not ids:
        return {}
    states: dict[str, str] = {}
    wanted = set(ids)
    for command in (["squeue", "-h", "-r", "-o", "%i %T", "-j"], [*SACCT, "-j"]):
        for job, state in _rows_in_chunks(command, [job for job in ids if job not in states]):
            if job in wanted and job not in states:
                states[job] = state
    unresolved = [job for job in ids if job not in states and "_" in job]
    if unresolved:
        rows = _rows_in_chunks(SACCT + ["-j"], sorted({job.partition("_")[0] for job in unresolved}))
        for job in unresolved:
            found = _array_task_state(job, rows)
            if found is not None:
                states[job] = found
    return states


# Slurm states after which a job will not run again (a requeued job is PENDING or REQUEUED)
SLURM_ENDED = frozenset(
    {
        "COMPLETED",
        "CANCELLED",
        "FAILED",
        "TIMEOUT",
        "NODE_FAIL",
        "BOOT_FAIL",
        "DEADLINE",
        "OUT_OF_MEMORY",
        "PREEMPTED",
        "REVOKED",
    }
)
SACCT = ["sacct", "-n", "-X", "-P", "--delimiter", " ", "-o", "JobID,State"]


def _rows_in_chunks(command: list[str], ids: list[str], chunk: int = 500) -> list[tuple[str, str]]:
    """`command` with the ids appended, 500 at a time (one argument is capped at 128 KiB)."""
    rows: list[tuple[str, str]] = []
    for start in range(0, len(ids), chunk):
        rows.extend(_rows([*command, ",".join(ids[start : start + chunk])]))
    return rows


def _rows(command: list[str]) -> list[tuple[str, str]]:
    """(job id, state) per line of a squeue or sacct answer; none when it does not answer."""
    try:
        answer = subprocess.run(command, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [(parts[0], parts[1]) for parts in (line.split() for line in answer.stdout.splitlines()) if len(parts) >= 2]


def _array_task_state(job: str, rows: list[tuple[str, str]]) -> str | None:
    array, _, task = job.partition("_")
    if not task.isdigit():
        return None
    for row_id, state in rows:
        if row_id == array:
            return state
        if row_id.startswith(f"{array}_[") and row_id.endswith("]") and int(task) in _task_numbers(row_id):
            return state
    return None


def _task_numbers(row_id: str) -> set[int]:
    """The task numbers of an array row such as `4_[2-3,7%256]`."""
    numbers: set[int] = set()
    inside = row_id[row_id.index("[") + 1 : -1].split("%")[0]
    for part in inside.split(","):
        low, _, high = part.partition("-")
        if low.isdigit() and (high.isdigit() or not high):
            numbers.update(range(int(low), int(high or low) + 1))
    return numbers


def cancel_bundles(queue: JobQueue, job_ids: Sequence[str]) -> list[str]:
    """scancel the Slurm jobs among `job_ids` that no pending or running harness job needs
    any more (a bundle may also hold other methods' jobs); the ids cancelled."""
    live = {entry.slurm_job for state in ("pending", "running") for entry in queue.entries(state)}
    idle = sorted({job for job in job_ids if job and job not in live})
    if idle and shutil.which("scancel") is not None:
        for start in range(0, len(idle), 500):
            try:
                subprocess.run(["scancel", *idle[start : start + 500]], capture_output=True, timeout=60)
            except subprocess.TimeoutExpired:
                raise HarnessError("scancel did not answer within 60 s; run it again or scancel by hand") from None
    return idle
