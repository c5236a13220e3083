"""Workers: one process per device slot, each claiming jobs from the queue until idle.

`python runner.py worker --devices cuda:0,cuda:1 --slots-per-device 2` runs four slot
processes; each is set up by `devices.configure_process` (its device, its share of the CPU
threads), claims a job planned for its device type, trains it with a checkpoint in the
queue folder, keeps its lease alive with a heartbeat thread, writes the record, marks the
job done and frees the job's memory. A slot that loses its lease (it stalled and the job
was handed to another worker, or the job was cancelled) abandons the job without writing
anything. An infrastructure error (out of memory, a CUDA fault) sends the job back to the
queue to resume from its checkpoint; after MAX_ATTEMPTS starts it gets a failed record
that names the machine, not the method.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

import torch

from harness import registry
from harness.api.errors import InfrastructureError
from harness.api.records import EpochLog
from harness.methods.resolve import Method, method_from_spec
from harness.oracle.guest.loader import SOURCE_BYTES_CEILING
from harness.queue.jobqueue import MAX_ATTEMPTS, JobQueue, QueueEntry
from harness.run.devices import configure_process, one_line, release_memory, resolve_device, slot_threads
from harness.run.jobs import (
    DeviceType,
    JobInterrupted,
    PlannedJob,
    record_failure,
    record_infrastructure_failure,
    run_job,
)
from harness.run.progress import JobProgress
from harness.store import find_record
from harness.submission_store import keep, verified_copy


def entry_for(item: PlannedJob, queue: JobQueue, results: Path, data_root: Path, force: bool = False) -> QueueEntry:
    """The queue entry of a planned job; an untrusted file is kept in the queue's store
    under its hash (`harness/submission_store.py`), from bytes that hash to the method's recorded
    sha256, keeping its name (errors quote it)."""
    copy = None
    if item.method.untrusted_path is not None:
        data = verified_copy(item.method.untrusted_path, item.method.spec.source_sha256, SOURCE_BYTES_CEILING)
        copy = str(keep(data, item.method.untrusted_path.name, queue.root).path.resolve())
    return QueueEntry(
        key=item.key,
        method=item.method.spec,
        job=item.job,
        submission_copy=copy,
        sandbox=item.method.sandbox.name if item.method.sandbox else None,
        results=str(results.resolve()),
        data_root=str(data_root.resolve()),
        enqueued_at=time.time(),
        force=force,
        device_type=item.device_type,
    )


def method_for(entry: QueueEntry, loss_names: tuple[str, ...], allow_process: bool = False) -> Method:
    """Rebuild the method of a queued job (submissions run only in their sandbox), or a
    HarnessError saying why it cannot be: a baseline is a registered method, never a file,
    and a file queued for the process sandbox (which isolates nothing) runs only on a
    worker started to allow it: the worker's owner decides, not whoever filled the queue
    (`methods.resolve.method_from_spec`)."""
    copy = Path(entry.submission_copy) if entry.submission_copy is not None else None
    return method_from_spec(entry.method, loss_names, entry.job.task, copy, entry.sandbox, allow_process=allow_process)


class Heartbeat:
    """Renews a job's lease in the background; `lost` turns true if the lease is gone."""

    def __init__(self, queue: JobQueue, entry: QueueEntry) -> None:
        self.queue, self.entry = queue, entry
        self.epoch = 0
        self.lost = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        interval = max(self.queue.lease_seconds / 4, 0.2)
        while not self._stop.wait(interval):
            if not self.queue.heartbeat(self.entry, self.epoch):
                self.lost = True
                return

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


def run_one(
    queue: JobQueue,
    entry: QueueEntry,
    device: torch.device,
    label: str,
    slots_per_device: int = 1,
    allow_process: bool = False,
    tensorboard: Path | None = None,
) -> str:
    """Run a claimed job to its end; the state it ends in ("done", "failed", "lost", or
    "requeued" after an infrastructure error). With `tensorboard`, the job writes its curves
    there while it trains."""
    task = registry.tasks.get(entry.job.task)
    results = Path(entry.results)
    existing = None if entry.force else find_record(results, entry.job.preset, entry.method.name, entry.key)
    if existing is not None and existing.status == "ok":
        queue.finish(entry, "done")  # recorded by a worker that died before finishing
        return "done"
    device_type: DeviceType = entry.device_type or ("cuda" if device.type == "cuda" else "cpu")
    progress = JobProgress(f"{label} {entry.method.name} {entry.job.label}", entry.job.config.epochs)
    try:
        method = method_for(entry, task.loss_names, allow_process)
    except Exception as exc:  # the job fails with a record saying why; the worker goes on
        unbuilt = PlannedJob(Method(entry.method, loss_names=task.loss_names), entry.job, entry.key, device_type)
        error = f"the queued job's method cannot be built: {one_line(exc)}"
        record = record_failure(unbuilt, task, device, results, error, traceback.format_exc(), slots_per_device)
        progress.message(f"{progress.label} FAILED: {record.error}")
        queue.finish(entry, "failed")
        return "failed"
    planned = PlannedJob(method, entry.job, entry.key, device_type)

    def give_up(attempts: int, reason: str, details: str | None = None) -> str:
        record = record_infrastructure_failure(
            planned, task, device, results, attempts, reason, details, slots_per_device
        )
        progress.message(f"{progress.label} FAILED: {record.error}")
        queue.finish(entry, "failed")
        return "failed"

    if entry.attempts > MAX_ATTEMPTS:  # its workers kept dying (the lease ran out each time)
        return give_up(entry.attempts - 1, entry.last_error or "the job never finished")
    heartbeat = Heartbeat(queue, entry)

    def check_lease(*_: object) -> None:
        if heartbeat.lost:
            raise JobInterrupted("lease lost")

    def note_epoch(log: EpochLog) -> None:
        heartbeat.epoch = log.epoch + 1
        check_lease()

    infrastructure: tuple[str, str] | None = None
    try:
        record = run_job(
            planned,
            task,
            device,
            Path(entry.data_root),
            results,
            progress,
            checkpoint=queue.checkpoint_path(entry.key),
            on_epoch=note_epoch,
            on_step=check_lease,
            slots_per_device=slots_per_device,
            tensorboard=tensorboard,
        )
    except JobInterrupted:
        progress.message(f"{progress.label}: lease lost, job left to another worker")
        return "lost"
    except InfrastructureError as exc:  # the machine's fault
        infrastructure = (str(exc), exc.details)
    finally:
        heartbeat.stop()
    if infrastructure is not None:  # out of the except block: the exception no longer holds the job's tensors
        reason, details = infrastructure
        if entry.attempts >= MAX_ATTEMPTS:
            return give_up(entry.attempts, reason, details)
        release_memory(device)  # before the job can be claimed again
        requeued = queue.requeue(entry, reason)
        progress.message(
            f"{progress.label}: infrastructure error on attempt {entry.attempts} of {MAX_ATTEMPTS}: {reason}"
            + ("; requeued to resume from its checkpoint" if requeued else "; the job is no longer this worker's")
        )
        return "requeued"
    if record.status == "failed":
        progress.message(f"{progress.label} FAILED: {record.error}")
        queue.finish(entry, "failed")
        return "failed"
    queue.finish(entry, "done")
    return "done"


def slurm_incarnation() -> str:
    """`slurm<job id>.<restart count>:` inside a Slurm job, else nothing: the prefix of its
    workers' names, by which a requeued Slurm job knows its earlier run's leases."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return ""
    return f"slurm{job}.{os.environ.get('SLURM_RESTART_COUNT', '0')}:"


def slurm_job_name() -> str | None:
    """This process's Slurm job as `status` names it (`123_4` for an array task), or None."""
    array, task = os.environ.get("SLURM_ARRAY_JOB_ID"), os.environ.get("SLURM_ARRAY_TASK_ID")
    if array and task:
        return f"{array}_{task}"
    return os.environ.get("SLURM_JOB_ID") or None


def release_earlier_runs(queue_root: Path) -> int:
    """In a requeued Slurm job: give its earlier run's jobs back to the queue at once."""
    job = os.environ.get("SLURM_JOB_ID")
    if not job:
        return 0
    return JobQueue(queue_root).release_stale(f"slurm{job}.", slurm_incarnation())


def slot_main(
    queue_root: str,
    device_name: str,
    slot: str,
    lease: float,
    exit_when_idle: bool,
    poll_seconds: float,
    slots_per_device: int = 1,
    threads: int = 1,
    only: list[str] | None = None,
    allow_process: bool = False,
    tensorboard: str | None = None,
) -> int:
    """The loop of one slot, forked or in the worker's own process (both set up alike);
    0 when idle, 1 when its CUDA device became unusable in this process. With `only`, it
    serves just those job keys (the harness jobs of one Slurm bundle); with `tensorboard`,
    its jobs write their curves to that folder while they train."""
    device = resolve_device(device_name)
    configure_process(device, threads)
    queue = JobQueue(Path(queue_root), lease)
    worker_id = f"{slurm_incarnation()}{socket.gethostname()}:{os.getpid()}:{slot}"
    while True:
        entry = queue.claim(worker_id, device.type, only, slurm_job_name() if only is not None else None)
        if entry is None:
            if exit_when_idle and queue.unfinished(device.type, only) == 0:
                return 0
            time.sleep(poll_seconds)
            continue
        board = Path(tensorboard) if tensorboard is not None else None
        run_one(queue, entry, device, f"[{slot}]", slots_per_device, allow_process, board)
        broken = release_memory(device)
        if broken is not None:  # e.g. after an illegal memory access: every later job would fail
            print(f"[{slot}] stopping: {device} is unusable in this process ({broken})", flush=True)
            return 1


def _slot_process(*args: object) -> None:
    sys.exit(slot_main(*args))  # type: ignore[arg-type]


def run_workers(
    queue_root: Path,
    devices: list[str],
    slots_per_device: int,
    lease: float,
    exit_when_idle: bool,
    poll_seconds: float = 1.0,
    threads: int | None = None,
    only: list[str] | None = None,
    allow_process: bool = False,
    tensorboard: Path | None = None,
) -> int:
    """Start one process per slot and wait for them; the number that failed. A single
    slot runs in this process (it already is one process with its device). Each slot gets
    `threads` CPU threads (default: the available cores shared by all slots). With
    `allow_process`, jobs queued for the process sandbox run (else they fail, saying why).
    With `tensorboard`, every job writes its curves to that folder while it trains."""
    board = str(tensorboard.resolve()) if tensorboard is not None else None
    threads = slot_threads(len(devices) * slots_per_device, threads)
    if len(devices) * slots_per_device == 1:
        device = devices[0]
        return int(
            slot_main(
                str(queue_root),
                device,
                f"{device}#0",
                lease,
                exit_when_idle,
                poll_seconds,
                1,
                threads,
                only,
                allow_process,
                board,
            )
            != 0
        )
    # forkserver: one fresh process imports torch and the harness once (about 3 s of CPU),
    # and every slot is forked from it; spawn would import them again in each slot. The
    # server never runs a torch operation or touches CUDA, so its children start clean.
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    processes = []
    for device in devices:
        for index in range(slots_per_device):
            slot = f"{device}#{index}"
            process = context.Process(
                target=_slot_process,
                args=(
                    str(queue_root),
                    device,
                    slot,
                    lease,
                    exit_when_idle,
                    poll_seconds,
                    slots_per_device,
                    threads,
                    only,
                    allow_process,
                    board,
                ),
                name=f"slot-{slot}",
            )
            process.start()
            processes.append(process)
    try:
        for process in processes:
            process.join()
    except KeyboardInterrupt:
        for process in processes:
            process.terminate()
        raise
    return sum(1 for p in processes if p.exitcode != 0)
