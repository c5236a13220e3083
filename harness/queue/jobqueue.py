"""A persistent job queue in a folder: crash-safe, shared by any number of workers.

Layout: `pending/`, `running/`, `done/`, `failed/`, `cancelled/`, one JSON file per job
named `<enqueued-ns>-<key16>-<device type>.json` (so names sort first-in first-out, and a
worker skips the jobs of another device type without reading them). A state change is
an atomic rename under a file lock; a running job's lease is the file's mtime, renewed by
the worker's heartbeat. A lease older than `lease_seconds` (worker killed, machine
rebooted) sends the job back to `pending/`, where its checkpoint lets it resume; so does
an infrastructure error (`requeue`). Each claim counts an attempt: a job is started at most
MAX_ATTEMPTS times (the worker records it as failed after that).
"""

from __future__ import annotations

import os
import time
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from filelock import FileLock
from pydantic import BaseModel, ConfigDict, ValidationError

from harness.api.records import JobSpec, MethodSpec
from harness.store import atomic_write_text

State = Literal["pending", "running", "done", "failed", "cancelled"]
STATES: tuple[State, ...] = ("pending", "running", "done", "failed", "cancelled")
DEFAULT_LEASE_SECONDS = 60.0
MAX_ATTEMPTS = 3  # starts of a job the machine keeps failing (lost worker, out of memory, ...)
DEFAULT_RETRY_SECONDS = 30.0  # a requeued job waits this long (times its attempts) before a retry


def _key_in_name(name: str) -> str:
    """The key prefix in a queue file's name, `<enqueued-ns>-<key16>[-<device>].json`."""
    return name.split("-")[1].removesuffix(".json")


class QueueEntry(BaseModel):
    """One queued job: everything a worker needs to run it."""

    model_config = ConfigDict(extra="forbid")

    key: str
    method: MethodSpec
    job: JobSpec
    submission_copy: str | None = None  # the queue's private copy of an untrusted file
    sandbox: str | None = None
    results: str
    data_root: str
    enqueued_at: float
    force: bool = False  # rerun even if a record exists
    attempts: int = 0  # claims so far; one past MAX_ATTEMPTS and the worker gives the job up
    worker: str | None = None
    epoch: int = 0  # epochs finished, for progress
    device_type: Literal["cpu", "cuda"] | None = None  # as planned (in the key); None: any (older queues)
    last_error: str | None = None  # why the last attempt did not finish (infrastructure error, lost lease)
    slurm_job: str | None = None  # the Slurm job of its bundle (--executor slurm)
    not_before: float = 0.0  # a requeued job is not claimed before this time


@dataclass
class QueueProblem:
    path: Path
    reason: str


class JobQueue:
    def __init__(
        self, root: Path, lease_seconds: float = DEFAULT_LEASE_SECONDS, retry_seconds: float = DEFAULT_RETRY_SECONDS
    ) -> None:
        self.root = root
        self.lease_seconds = lease_seconds
        self.retry_seconds = retry_seconds
        for state in STATES:
            (root / state).mkdir(parents=True, exist_ok=True)
        (root / "checkpoints").mkdir(exist_ok=True)
        (root / "names").mkdir(exist_ok=True)  # key -> file name, for O(1) state look-ups
        (root / "submissions").mkdir(exist_ok=True)
        self.lock = FileLock(str(root / "queue.lock"))
        self.problems: list[QueueProblem] = []

    # -- reading ------------------------------------------------------------------------
    @staticmethod
    def _device_in_name(name: str) -> str | None:
        parts = name[: -len(".json")].split("-")
        return parts[2] if len(parts) == 3 else None

    def _names(self, state: State) -> list[str]:
        return sorted(n for n in os.listdir(self.root / state) if n.endswith(".json"))

    def _files(self, state: State) -> list[Path]:
        folder = self.root / state
        return [folder / name for name in self._names(state)]

    def _read(self, path: Path) -> QueueEntry | None:
        try:
            return QueueEntry.model_validate_json(path.read_bytes())
        except (ValidationError, ValueError, OSError) as exc:
            if path.exists():
                self._quarantine(path, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            return None

    def _quarantine(self, path: Path, reason: str) -> None:
        """Move an unreadable file aside so it is reported once and never crashes a worker."""
        bad = self.root / "unreadable"
        bad.mkdir(exist_ok=True)
        try:
            os.replace(path, bad / path.name)
        except OSError:
            pass
        self.problems.append(QueueProblem(path, reason))

    def listing(self, state: State) -> list[tuple[Path, QueueEntry]]:
        """The readable jobs in `state` with their files, oldest first."""
        found = []
        for path in self._files(state):
            entry = self._read(path)
            if entry is not None:
                found.append((path, entry))
        return found

    def entries(self, state: State) -> list[QueueEntry]:
        return [entry for _, entry in self.listing(state)]

    def counts(self) -> dict[str, int]:
        return {state: len(self._names(state)) for state in STATES}

    def unfinished(self, device_type: str | None = None, only: Collection[str] | None = None) -> int:
        """Pending and running jobs (of `device_type`, and those of older queues that any
        device may run; with `only`, of those keys): a worker that stops when idle waits
        for these."""
        prefixes = None if only is None else {key[:16] for key in only}
        return sum(
            1
            for state in ("pending", "running")
            for name in self._names(state)
            if (device_type is None or self._device_in_name(name) in (None, device_type))
            and (prefixes is None or _key_in_name(name) in prefixes)
        )

    def _file_name(self, key: str) -> str | None:
        try:
            return (self.root / "names" / key[:16]).read_text().strip() or None
        except OSError:
            return None

    def state_of(self, key: str) -> State | None:
        name = self._file_name(key)
        if name is None:
            return None
        for state in STATES:
            if (self.root / state / name).exists():
                return state
        return None

    # -- state changes --------------------------------------------------------------------
    def enqueue(self, entry: QueueEntry) -> bool:
        """Add a job unless one with its key is pending or running; True if added."""
        with self.lock:
            live = self.state_of(entry.key)
            if live in ("pending", "running"):
                return False
            old_name = self._file_name(entry.key)
            if old_name is not None:
                for state in ("done", "failed", "cancelled"):
                    (self.root / state / old_name).unlink(missing_ok=True)
            device = f"-{entry.device_type}" if entry.device_type else ""
            name = f"{time.time_ns():020d}-{entry.key[:16]}{device}.json"
            atomic_write_text(self.root / "pending" / name, entry.model_dump_json())
            (self.root / "names" / entry.key[:16]).write_text(name)
            return True

    def claim(
        self,
        worker: str,
        device_type: str | None = None,
        only: Collection[str] | None = None,
        slurm_job: str | None = None,
    ) -> QueueEntry | None:
        """Take the oldest pending job that may run now and lease it to `worker`. With
        `device_type`, only a job planned for that type (or for any, from older queues);
        with `only`, only a job whose key it lists (a Slurm bundle's worker), which notes
        its own `slurm_job` on the entry (the one that really runs it)."""
        prefixes = None if only is None else {key[:16] for key in only}
        with self.lock:
            self._reap_expired()
            pending = self.root / "pending"
            now = time.time()
            for name in self._names("pending"):
                if prefixes is not None and _key_in_name(name) not in prefixes:
                    continue
                named = self._device_in_name(name)
                if device_type is not None and named is not None and named != device_type:
                    continue
                path = pending / name
                entry = self._read(path)
                if entry is None or entry.not_before > now:
                    continue
                if device_type is not None and entry.device_type not in (None, device_type):
                    continue
                entry.attempts += 1
                entry.worker = worker
                if slurm_job is not None:
                    entry.slurm_job = slurm_job
                target = self.root / "running" / path.name
                atomic_write_text(path, entry.model_dump_json())
                os.replace(path, target)
                return entry
        return None

    def _running_path(self, key: str) -> Path | None:
        name = self._file_name(key)
        path = self.root / "running" / name if name else None
        return path if path is not None and path.exists() else None

    def heartbeat(self, entry: QueueEntry, epoch: int | None = None) -> bool:
        """Renew the lease; False if the job is no longer this worker's (reaped or cancelled)."""
        with self.lock:
            path = self._running_path(entry.key)
            current = self._read(path) if path else None
            if current is None or current.worker != entry.worker:
                return False
            if epoch is not None and epoch != current.epoch:
                current.epoch = epoch
                atomic_write_text(path, current.model_dump_json())  # type: ignore[arg-type]
            os.utime(path)  # type: ignore[arg-type]
            return True

    def annotate(self, key: str, slurm_job: str) -> bool:
        """Note the Slurm job that will run a pending job; False if it is no longer pending
        (a worker claimed it and noted its own Slurm job, or it ended)."""
        with self.lock:
            name = self._file_name(key)
            path = self.root / "pending" / name if name else None
            current = self._read(path) if path is not None and path.exists() else None
            if path is None or current is None:
                return False
            current.slurm_job = slurm_job
            atomic_write_text(path, current.model_dump_json())
            return True

    def requeue(self, entry: QueueEntry, reason: str) -> bool:
        """Give a running job back to `pending/` (after an infrastructure error), keeping its
        checkpoint so that it resumes; it waits `retry_seconds` x its attempts before it can
        be claimed again (a neighbour's memory use may pass). False if the job is no longer
        this worker's."""
        with self.lock:
            path = self._running_path(entry.key)
            current = self._read(path) if path else None
            if path is None or current is None or current.worker != entry.worker:
                return False
            current.worker = None
            current.last_error = reason
            current.not_before = time.time() + self.retry_seconds * current.attempts
            atomic_write_text(path, current.model_dump_json())
            os.replace(path, self.root / "pending" / path.name)
            return True

    def finish(self, entry: QueueEntry, state: Literal["done", "failed"]) -> bool:
        with self.lock:
            path = self._running_path(entry.key)
            current = self._read(path) if path else None
            if path is None or current is None or current.worker != entry.worker:
                return False
            if state == "done" and current.epoch != current.job.config.epochs:
                current.epoch = current.job.config.epochs
                atomic_write_text(path, current.model_dump_json())
            os.replace(path, self.root / state / path.name)
            (self.root / "checkpoints" / f"{entry.key}.pt").unlink(missing_ok=True)
            return True

    def cancel(self, method_name: str) -> int:
        """Cancel the pending and running jobs of a method; running ones stop at their
        next heartbeat."""
        moved = 0
        with self.lock:
            for state in ("pending", "running"):
                for path in self._files(state):
                    entry = self._read(path)
                    if entry is not None and entry.method.name == method_name:
                        os.replace(path, self.root / "cancelled" / path.name)
                        moved += 1
        return moved

    def _reap_expired(self) -> int:
        now = time.time()
        reaped = 0
        for path in self._files("running"):
            try:
                age = now - path.stat().st_mtime
            except FileNotFoundError:
                continue
            if age > self.lease_seconds:
                entry = self._read(path)
                if entry is None:
                    continue
                entry.last_error = (
                    f"worker {entry.worker} stopped renewing its lease (no heartbeat for {age:.0f} s: "
                    "killed, lost or stalled)"
                )
                entry.worker = None
                atomic_write_text(path, entry.model_dump_json())
                os.replace(path, self.root / "pending" / path.name)
                reaped += 1
        return reaped

    def release_stale(self, prefix: str, current: str) -> int:
        """Send back to `pending/` the running jobs leased to workers named `prefix...` but
        not `current...`: an earlier run of a requeued Slurm job, dead for sure (Slurm runs
        one at a time), so its jobs resume now instead of after their leases."""
        released = 0
        with self.lock:
            for path in self._files("running"):
                entry = self._read(path)
                worker = entry.worker if entry is not None else None
                if entry is None or worker is None or not worker.startswith(prefix) or worker.startswith(current):
                    continue
                entry.last_error = f"its Slurm job was requeued (preempted, out of time or requeued) under {worker}"
                entry.worker = None
                atomic_write_text(path, entry.model_dump_json())
                os.replace(path, self.root / "pending" / path.name)
                released += 1
        return released

    def reap_expired(self) -> int:
        with self.lock:
            return self._reap_expired()

    def checkpoint_path(self, key: str) -> Path:
        return self.root / "checkpoints" / f"{key}.pt"
