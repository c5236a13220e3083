"""Expand a preset into jobs and run one job into a saved run record."""

from __future__ import annotations

import contextlib
import platform
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import torch

from harness.api.errors import HarnessError, InfrastructureError, SubmissionError
from harness.api.protocols import base_preset, resolve_protocol
from harness.api.records import CompileStats, Environment, EpochLog, JobSpec, Protocol, RunRecord, job_key
from harness.api.task import Task
from harness.methods.resolve import Method
from harness.oracle.backends.base import cgroup_limits
from harness.oracle.guest.protocol import clean_details, clean_text
from harness.run.devices import cuda_versions, device_name, is_infrastructure_error, one_line
from harness.run.environment import git_commit, torchvision_version
from harness.run.progress import JobProgress
from harness.run.tracking import LiveBoard
from harness.run.trainer import train
from harness.store import save_record
from harness.version import HARNESS_VERSION

DeviceType = Literal["cpu", "cuda"]
# a record's error is one line (consoles print it); its details may span lines
ERROR_LIMIT = 2000
DETAILS_LIMIT = 100_000


class JobInterrupted(Exception):
    """Raised by a callback to abandon a job without a record (its lease is gone)."""


@dataclass(frozen=True)
class PlannedJob:
    method: Method
    job: JobSpec
    key: str
    device_type: DeviceType  # cpu or cuda: part of the key, and only a worker on such a device runs it


def expand_jobs(
    task: Task,
    preset: str,
    archs: list[str] | None,
    seeds: list[int] | None,
    allow_hidden: bool = False,
    overrides: Mapping[str, Any] | None = None,
    protocol: Protocol | None = None,
) -> list[JobSpec]:
    """task x architecture x seed x the task's variants (Adience: one job per fold), under
    the protocol (screening, held-out evaluation) `resolve_protocol` settles.
    `overrides` are the command line's task options by field name."""
    config, default_archs, default_seeds = base_preset(task, preset)
    protocol = resolve_protocol(task, preset, protocol)
    config = protocol.apply(task.configure(config, overrides or {}))
    chosen = archs or default_archs
    for arch in chosen:
        try:
            info = task.architecture(arch)
        except KeyError as exc:
            raise HarnessError(str(exc.args[0])) from None
        if info.hidden and not allow_hidden:
            raise HarnessError(f"architecture {arch} is hidden: it runs only in the final evaluation")
    return [
        JobSpec(
            task=task.name,
            arch=arch,
            seed=seed,
            preset=preset,
            config=variant,
            variant=task.variant_label(variant),
            protocol=protocol,
        )
        for arch in chosen
        for seed in (seeds or default_seeds)
        for variant in task.variants(config)
    ]


def plan(method: Method, jobs: list[JobSpec], device: torch.device | str = "cpu") -> list[PlannedJob]:
    """The jobs with their cache keys, for the device (type) they will run on."""
    kind: DeviceType = "cuda" if torch.device(device).type == "cuda" else "cpu"
    if torch.device(device).type != kind:
        raise HarnessError(f"unsupported device {device}; use cpu or cuda")
    return [PlannedJob(method, job, job_key(method.spec, job, HARNESS_VERSION, kind), kind) for job in jobs]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _limits_of(method: Method) -> dict[str, float | str] | None:
    if method.limits is None:
        return None
    return {**method.limits.model_dump(), "cgroup": cgroup_limits()}


def _best(task: Task, epochs: list[EpochLog]) -> tuple[float | None, int | None]:
    if not epochs:
        return None, None
    values = [log.test_metrics[task.primary_metric] for log in epochs]
    best = max(values) if task.higher_is_better else min(values)
    return best, values.index(best)


def run_job(
    planned: PlannedJob,
    task: Task,
    device: torch.device,
    data_root: Path,
    results: Path,
    progress: JobProgress,
    checkpoint: Path | None = None,
    on_epoch: Callable[[EpochLog], None] | None = None,
    on_step: Callable[[int, int], None] | None = None,
    slots_per_device: int = 1,
    tensorboard: Path | None = None,
) -> RunRecord:
    """Train one job and save its record; failures of the method become failed records.
    With `checkpoint` the job resumes from it and refreshes it every epoch. Exceptions
    raised by the callbacks (a worker losing its lease) propagate and save nothing, and so
    do the machine's faults (`devices.is_infrastructure_error`), as InfrastructureError: the
    caller retries the job. `slots_per_device` jobs share the device: each is charged that
    share of its wall time in device-hours. With `tensorboard`, the job's run folder there is
    written while it trains (`run.tracking`; not part of the key, no change to the numbers)."""
    job = planned.job
    if device.type != planned.device_type:
        raise HarnessError(f"{job.label} was planned for {planned.device_type}, not for {device}")
    with contextlib.ExitStack() as stack:  # the live board closes however the job ends
        board = None
        if tensorboard is not None:
            live = LiveBoard(tensorboard, planned.method.spec, job, planned.key, planned.device_type, progress.message)
            board = stack.enter_context(contextlib.closing(live))

        def epoch_done(log: EpochLog) -> None:
            progress.epoch_done(log)
            if board is not None:
                board.epoch(log)
            if on_epoch is not None:
                on_epoch(log)

        def step_done(step: int, steps: int) -> None:
            progress.step(step, steps)
            if on_step is not None:
                on_step(step, steps)

        started_at, started = _now(), time.perf_counter()
        combiner = None
        error = details = None
        epochs: list[EpochLog] = []
        compile_stats: CompileStats | None = None
        try:
            combiner = planned.method.make_combiner(job.config)
            outcome = train(
                task,
                job.arch,
                job.seed,
                job.config,
                combiner,
                device,
                data_root,
                on_epoch=epoch_done,
                on_step=step_done,
                checkpoint=checkpoint,
                on_start=None if board is None else board.start,
            )
            epochs, compile_stats = outcome.epochs, outcome.compile_stats
            if outcome.resumed_from:
                progress.message(f"{progress.label} resumed after epoch {outcome.resumed_from}")
            for note in outcome.notes:
                progress.message(f"{progress.label} note: {note}")
            if outcome.error is not None:
                error, details = str(outcome.error), outcome.error.details
        except SubmissionError as exc:  # e.g. the oracle failed to start or load
            error, details = str(exc), exc.details
        except (HarnessError, JobInterrupted):
            raise
        except Exception as exc:
            if is_infrastructure_error(exc):  # not the method's fault: no record, the worker retries
                raise InfrastructureError(one_line(exc), traceback.format_exc()) from exc
            error = f"internal error: {type(exc).__name__}: {exc}"  # a bug of ours: record it, keep going
            details = traceback.format_exc()
        finally:
            if combiner is not None:
                combiner.close()
        wall_seconds = time.perf_counter() - started
        record = _make_record(
            planned, task, epochs, error, details, started_at, wall_seconds, device, slots_per_device, compile_stats
        )
        save_record(results, record)
        if board is not None:
            board.finish(record)
        return record


def record_infrastructure_failure(
    planned: PlannedJob,
    task: Task,
    device: torch.device,
    results: Path,
    attempts: int,
    reason: str,
    details: str | None = None,
    slots_per_device: int = 1,
) -> RunRecord:
    """The failed record of a job the machine kept failing: its error starts with
    "infrastructure error", so it is never read as the method's fault."""
    error = f"infrastructure error after {attempts} attempts: {reason}"
    return record_failure(planned, task, device, results, error, details, slots_per_device)


def record_failure(
    planned: PlannedJob,
    task: Task,
    device: torch.device,
    results: Path,
    error: str,
    details: str | None = None,
    slots_per_device: int = 1,
) -> RunRecord:
    """The saved failed record of a job that never trained (its method could not be built,
    the machine kept failing it)."""
    record = _make_record(planned, task, [], error, details, _now(), 0.0, device, slots_per_device)
    save_record(results, record)
    return record


def _make_record(
    planned: PlannedJob,
    task: Task,
    epochs: list[EpochLog],
    error: str | None,
    details: str | None,
    started_at: str,
    wall_seconds: float,
    device: torch.device,
    slots_per_device: int = 1,
    compile_stats: CompileStats | None = None,
) -> RunRecord:
    best, best_epoch = _best(task, epochs)
    cuda, driver = cuda_versions(device)
    return RunRecord(
        key=planned.key,
        method=planned.method.spec,
        job=planned.job,
        status="failed" if error else "ok",
        error=None if error is None else clean_text(error, ERROR_LIMIT),  # whoever wrote it: one line
        error_details=None if details is None else clean_details(details, DETAILS_LIMIT),
        epochs=epochs,
        primary_metric=task.primary_metric,
        best_primary=best,
        best_epoch=best_epoch,
        final_metrics=epochs[-1].test_metrics if epochs else {},
        started_at=started_at,
        finished_at=_now(),
        wall_seconds=wall_seconds,
        device_hours=wall_seconds / 3600.0 / slots_per_device,
        environment=Environment(
            python=platform.python_version(),
            torch=torch.__version__,
            torchvision=torchvision_version(),
            harness=HARNESS_VERSION,
            device=str(device),
            device_name=device_name(device),
            sandbox=planned.method.sandbox_name,
            sandbox_limits=_limits_of(planned.method),
            git_commit=git_commit(),
            slots_per_device=slots_per_device,
            threads=torch.get_num_threads(),
            cuda=cuda,
            cuda_driver=driver,
        ),
        compile_stats=compile_stats,
    )
