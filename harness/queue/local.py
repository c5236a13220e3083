"""Run planned jobs through the queue on this machine: enqueue what has no record, start
local workers (`python -m harness worker`), print progress until every job has ended."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from harness.api.errors import HarnessError
from harness.api.records import RunRecord
from harness.api.task import Task
from harness.queue.jobqueue import JobQueue
from harness.queue.slurm import SLURM_ENDED, SlurmOptions, check_slurm, slurm_states, submit_bundles
from harness.queue.worker import entry_for
from harness.run.devices import resolve_device
from harness.run.jobs import PlannedJob
from harness.store import find_record

ENDED = ("done", "failed", "cancelled")


@dataclass(frozen=True)
class Execution:
    """Where and how the jobs run: the results and data folders, the worker slots, and the
    executor (local workers, or Slurm with `slurm`)."""

    results: Path
    data_root: Path
    device: str = "auto"
    slots_per_device: int = 1
    force: bool = False
    wait: bool = True
    threads_per_slot: int | None = None  # None: the available cores shared by the slots
    slurm: SlurmOptions | None = None  # --executor slurm: the jobs go to Slurm in bundles
    allow_process: bool = False  # the workers it starts run the process sandbox (named by the user)
    tensorboard: Path | None = None  # the workers it starts write each job's curves there while it trains


def local_devices(choice: str) -> list[str]:
    """The devices local workers use for `--device choice`: `auto` is every CUDA device, or
    the CPU on a machine without a GPU (a GPU that CUDA cannot use is an error)."""
    device = resolve_device(choice)
    if choice == "auto" and device.type == "cuda":
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return [str(device)]


def prepare(planned: list[PlannedJob], tasks: dict[str, Task], data_root: Path) -> None:
    """Make the data ready and check each job can start, before anything is queued."""
    prepared = set()
    checked = set()
    for item in planned:
        task = tasks[item.job.task]
        if (item.job.task, item.job.config) not in prepared:
            task.prepare_data(item.job.config, data_root)
            prepared.add((item.job.task, item.job.config))
        if item.job not in checked:
            task.check_job(item.job, data_root)
            checked.add(item.job)


INFRASTRUCTURE = "infrastructure error"  # how the record of a job the machine failed begins


def final_record(item: PlannedJob, results: Path) -> RunRecord | None:
    """The job's stored record if it is final: `ok`, or failed by the method. Only a job the
    machine failed runs again without --force: the same file on the same job is the same
    computation, so a rerun of a failed one could only differ by the loss's own randomness,
    and a loss that fails its bad seeds could be retried until they come out well."""
    record = find_record(results, item.job.preset, item.method.spec.name, item.key)
    if record is None or (record.status == "failed" and (record.error or "").startswith(INFRASTRUCTURE)):
        return None
    return record


def all_recorded(planned: list[PlannedJob], results: Path) -> bool:
    """Whether every job has a final record (a rerun would only read them back)."""
    return all(final_record(item, results) is not None for item in planned)


def run_planned(
    planned: list[PlannedJob], tasks: dict[str, Task], queue: JobQueue, how: Execution
) -> list[RunRecord] | None:
    """Enqueue the jobs that have no record; unless `how.wait` is off, run local workers
    and wait. The records of all planned jobs, or None when not waiting."""
    if how.slurm is not None:
        check_slurm()  # before anything is queued
    prepare(planned, tasks, how.data_root)
    if how.slurm is None and (how.wait or how.device == "auto"):  # says "training on the CPU" when auto found no GPU
        resolve_device(how.device)  # (without waiting, cpu/cuda may name other machines' devices)
    records: dict[str, RunRecord] = {}
    todo: list[PlannedJob] = []
    for item in planned:
        cached = None if how.force else final_record(item, how.results)
        if cached is not None:
            records[item.key] = cached
        else:
            todo.append(item)
    added = sum(queue.enqueue(entry_for(item, queue, how.results, how.data_root, how.force)) for item in todo)
    print(
        f"{len(planned)} jobs: {len(records)} already recorded"
        + (" (use --force to rerun)" if records else "")
        + f", {added} enqueued, {len(todo) - added} already queued, in {queue.root}",
        flush=True,
    )
    if how.slurm is not None:
        waiting = unsubmitted(queue, [item.key for item in todo])
        jobs = (
            submit_bundles(
                queue,
                waiting,
                how.results,
                how.slots_per_device,
                how.slurm,
                how.threads_per_slot,
                how.allow_process,
                how.tensorboard,
            )
            if waiting
            else []
        )
        ids = [str(job.job_id) for job in jobs]
        print(
            f"{len(waiting)} jobs in {len(jobs)} Slurm job(s) of up to {how.slots_per_device}"
            + (f": {', '.join(ids)}" if ids else ""),
            flush=True,
        )
        if not how.wait:
            print(f"not waiting: watch with `python runner.py status --results {how.results}`")
            return None
        if todo:
            wait_for_slurm(queue, [item.key for item in todo], jobs)
    elif not how.wait:
        print(
            "not waiting: start workers with `python runner.py worker --results "
            f"{how.results}` and watch with `python runner.py status --results {how.results}`"
        )
        kinds = sorted({item.device_type for item in todo})
        if kinds:
            print(
                f"only {' and '.join(kinds)} workers run these jobs"
                + (" (--device cuda queues them for GPU workers)" if kinds == ["cpu"] else "")
            )
        return None
    elif todo:
        wait_with_workers(queue, [item.key for item in todo], how)
    for item in todo:
        record = find_record(how.results, item.job.preset, item.method.spec.name, item.key)
        if record is not None:
            records[item.key] = record
    return list(records.values())


def unsubmitted(queue: JobQueue, keys: list[str]) -> list[str]:
    """The pending jobs among `keys` that no live Slurm job will run (a `submit` run again
    after Ctrl-C must not hand the same jobs to Slurm twice)."""
    wanted = set(keys)
    pending = [entry for entry in queue.entries("pending") if entry.key in wanted]
    states = slurm_states([entry.slurm_job for entry in pending if entry.slurm_job])
    held = {
        entry.key
        for entry in pending
        if entry.slurm_job and entry.slurm_job in states and states[entry.slurm_job] not in SLURM_ENDED
    }
    return [key for key in keys if key in {entry.key for entry in pending} and key not in held]


def watch(queue: JobQueue, keys: list[str], check: Callable[[], None], pause: float) -> None:
    """Until every job in `keys` has ended: call `check` (keep the runners alive, or raise)
    and print the progress line when it changes (every 2 s on a terminal, else 10 s)."""
    started = time.monotonic()
    last_line = ""
    interval = 2.0 if sys.stdout.isatty() else 10.0
    next_print = time.monotonic() + interval
    while True:
        states = {key: queue.state_of(key) for key in keys}
        if all(state in ENDED for state in states.values()):
            return
        check()
        if time.monotonic() >= next_print:
            line = progress_line(queue, keys, states, time.monotonic() - started)
            if line != last_line:
                print(line, flush=True)
                last_line = line
            next_print = time.monotonic() + interval
        time.sleep(pause)


def wait_for_slurm(queue: JobQueue, keys: list[str], jobs: list[Any]) -> None:
    """Wait until every job in `keys` has ended; an error once no Slurm job that holds one
    of them is alive while harness jobs are left (their logs say why). Slurm's own states
    decide (read every 10 s), not submitit's `done()`: a bundle killed by `scontrol
    requeue` leaves an error result behind although Slurm runs it again."""
    by_id = {str(job.job_id): job for job in jobs}
    next_look = 0.0

    def check() -> None:
        nonlocal next_look
        if time.monotonic() < next_look:
            return
        next_look = time.monotonic() + 10.0
        ids = sorted(slurm_jobs_of(queue, keys) | set(by_id))
        states = slurm_states(ids)

        def alive(job_id: str) -> bool:
            if job_id in states:
                return states[job_id] not in SLURM_ENDED
            job = by_id.get(job_id)
            return job is not None and not job.done()  # no state known (no accounting): ask submitit

        if any(alive(job_id) for job_id in ids):
            return
        queue.reap_expired()
        left = sum(1 for key in keys if queue.state_of(key) not in ENDED)
        if left:
            raise HarnessError(
                f"every Slurm job ended but {left} harness job(s) did not; "
                f"logs in {queue.root / 'slurm'} (submit again to resume them)"
            )

    watch(queue, keys, check, 1.0)


def slurm_jobs_of(queue: JobQueue, keys: list[str]) -> set[str]:
    """The Slurm jobs noted on the pending and running entries among `keys`."""
    wanted = set(keys)
    return {
        entry.slurm_job
        for state in ("pending", "running")
        for entry in queue.entries(state)
        if entry.key in wanted and entry.slurm_job
    }


def start_workers(how: Execution) -> subprocess.Popen:
    return subprocess.Popen(worker_command(how))


def worker_command(how: Execution) -> list[str]:
    """`python -m harness worker ...` for the local run's devices and slots."""
    command = [
        sys.executable,
        "-m",
        "harness",
        "worker",
        "--devices",
        ",".join(local_devices(how.device)),
        "--slots-per-device",
        str(how.slots_per_device),
        "--results",
        str(how.results),
        "--exit-when-idle",
    ]
    if how.allow_process:
        command.append("--allow-process-sandbox")
    if how.threads_per_slot is not None:
        command += ["--threads-per-slot", str(how.threads_per_slot)]
    if how.tensorboard is not None:
        command += ["--tensorboard", str(how.tensorboard.resolve())]
    return command


def wait_with_workers(queue: JobQueue, keys: list[str], how: Execution) -> None:
    """Run local workers until every job in `keys` has ended, printing progress."""
    workers = [start_workers(how)]

    def check() -> None:
        if workers[0].poll() is not None:
            queue.reap_expired()
            workers[0] = start_workers(how)  # e.g. a foreign worker died holding our job

    watch(queue, keys, check, 0.5)
    workers[0].wait()


def progress_line(queue: JobQueue, keys: list[str], states: dict, elapsed: float) -> str:
    ended = sum(1 for s in states.values() if s in ENDED)
    pending = sum(1 for s in states.values() if s == "pending")
    running = [e for e in queue.entries("running") if e.key in states]
    epochs_total = sum(e.job.config.epochs for e in queue.entries("pending") if e.key in states)
    epochs_left = epochs_total + sum(e.job.config.epochs - e.epoch for e in running)
    epochs_done = sum(e.epoch for e in running) + sum(
        e.job.config.epochs for state in ("done", "failed") for e in queue.entries(state) if e.key in states
    )
    eta = ""
    if epochs_done:
        seconds = elapsed / epochs_done * epochs_left
        eta = f" | ETA {int(seconds // 60)}:{int(seconds % 60):02d}"
    now_running = ", ".join(f"{e.method.name} {e.job.label} epoch {e.epoch}/{e.job.config.epochs}" for e in running)
    return (
        f"queue: {ended}/{len(keys)} ended, {len(running)} running"
        + (f" ({now_running})" if now_running else "")
        + f", {pending} pending{eta}"
    )
