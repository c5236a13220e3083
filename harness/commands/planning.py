"""What the training commands share, from their request: the chosen tasks, the job plan (built
once per command), how the jobs execute (local workers or Slurm), and the board's files."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from harness import registry
from harness.api.errors import HarnessError
from harness.api.records import JobSpec
from harness.api.task import Task
from harness.commands.requests import JobsRequest, SlurmRequest
from harness.methods.resolve import Method
from harness.queue.local import Execution
from harness.queue.slurm import SlurmOptions
from harness.queue.slurm_config import merged_slurm_options, read_slurm_config
from harness.run.devices import parse_device, resolve_device
from harness.run.jobs import PlannedJob, expand_jobs, plan
from harness.store import slug


def chosen_tasks(names: tuple[str, ...] | None) -> dict[str, Task]:
    """The named tasks, or every registered task that loads (a broken plugin is reported)."""
    if not names:
        loaded, broken = registry.tasks.load_all()
        for error in broken.values():
            print(f"warning: {error}", flush=True)
        return loaded
    return {name: registry.tasks.get(name) for name in names}


# the presets whose baseline set holds the single-task controls: `baselines` without --only
# runs them there, and `final` beside a submission (never `submit`'s default baselines)
CONTROL_PRESETS = frozenset({"full", "final"})


def family_methods(role: str, task: Task, warnings: dict[str, None]) -> list[str]:
    """The names of the members that the method families of `role` (`controls`, `frontier`)
    generate for the task's losses, each family's centre (a registered method) first; the
    error of a family that does not load is added to `warnings` (printed once by the caller)."""
    members, centres, errors = registry.role_members(role, task.loss_names)
    warnings.update(dict.fromkeys(str(error) for error in errors))
    return list(dict.fromkeys([*centres, *(info.name for info in members)]))


def check_archs(archs: tuple[str, ...], tasks: list[Task]) -> None:
    """--archs applies to every chosen task that has the architecture; a name no chosen task
    knows is an error."""
    known = {arch.name for task in tasks for arch in task.architectures}
    unknown = [arch for arch in archs if arch not in known]
    if unknown:
        visible = ", ".join(dict.fromkeys(a for task in tasks for a in task.visible_architectures()))
        raise HarnessError(f"unknown architecture {unknown[0]} for the chosen tasks; known: {visible}")


def task_overrides(task: Task, flags: dict[str, str | bool]) -> dict[str, Any]:
    """The task's own settings asked for by flag, by field name (a switch sets its value)."""
    overrides: dict[str, Any] = {}
    for option in task.cli_options:
        given = flags.get(option.flag)
        if option.is_switch() and given:
            overrides[option.field] = option.value
        elif not option.is_switch() and given is not None and given is not False:
            overrides[option.field] = given
    return overrides


def job_device_type(request: JobsRequest) -> str:
    """The device type the jobs will run on (it is part of their keys): the device resolved
    as the local workers resolve it. Without waiting, an explicit cpu or cuda[:N] is taken
    as named, unchecked: the workers may be on other machines. Quiet: the run says which
    device it trains on once its jobs are ready (queue/local.py)."""
    if request.executor == "slurm":  # the login node's devices do not matter
        return slurm_options(request).device_type
    if not request.wait and request.device != "auto":
        return parse_device(request.device).type
    return resolve_device(request.device, quiet=True).type


def plan_jobs(
    methods_per_task: dict[str, list[Method]], tasks: dict[str, Task], request: JobsRequest
) -> list[PlannedJob]:
    """Every method's jobs on every chosen task under the request's preset and protocol."""
    device_type = job_device_type(request)
    planned: list[PlannedJob] = []
    archs = request.archs
    if archs:
        check_archs(archs, [tasks[name] for name in methods_per_task])
    for task_name, methods in methods_per_task.items():
        task = tasks[task_name]
        task_archs = [a for a in archs if a in {x.name for x in task.architectures}] if archs else None
        if archs and not task_archs:
            continue  # --archs names none of this task's architectures
        jobs = expand_jobs(
            task,
            request.preset,
            task_archs,
            list(request.seeds) if request.seeds else None,
            overrides=task_overrides(task, request.task_options),
            allow_hidden=request.final,
            protocol=request.protocol,
        )
        if request.deterministic is not None:
            jobs = [with_determinism(job, request.deterministic) for job in jobs]
        for method in methods:
            planned.extend(plan(method, jobs, device_type))
    return planned


def with_determinism(job: JobSpec, on: bool) -> JobSpec:
    """The job with CUDA's deterministic modes on or off, as --deterministic asks."""
    return job.model_copy(update={"config": job.config.model_copy(update={"deterministic": on})})


def execution(request: JobsRequest) -> Execution:
    """Where and how the jobs run, checked before anything is queued."""
    if request.tensorboard is not None and importlib.util.find_spec("tensorboard") is None:
        raise HarnessError('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"')
    if request.slots_per_device < 1:
        raise HarnessError("--slots-per-device must be at least 1")
    if request.threads_per_slot is not None and request.threads_per_slot < 1:
        raise HarnessError("--threads-per-slot must be at least 1")
    return Execution(
        request.results,
        request.data_root,
        request.device,
        request.slots_per_device,
        request.force,
        request.wait,
        request.threads_per_slot,
        slurm_options(request) if request.executor == "slurm" else None,
        tensorboard=request.tensorboard,
    )


def slurm_extra(options: tuple[str, ...] | list[str]) -> dict[str, str | bool]:
    """--slurm-opt KEY=VALUE or a bare KEY (a flag such as exclusive) as a dict; a malformed
    one is a one-line error."""
    extra: dict[str, str | bool] = {}
    for option in options:
        key, sep, value = option.partition("=")
        key = key.strip().lstrip("-")
        if not key or " " in key:
            raise HarnessError(f"--slurm-opt {option!r}: expected KEY=VALUE or a bare KEY")
        extra[key] = value.strip() if sep else True
    return extra


def slurm_options(request: JobsRequest) -> SlurmOptions:
    """The --slurm-* flags over the --slurm-config file's values, checked."""
    slurm: SlurmRequest = request.slurm
    for flag, value in (("--slurm-time", slurm.time_minutes), ("--slurm-cpus-per-job", slurm.cpus_per_job)):
        if value is not None and value < 1:
            raise HarnessError(f"{flag} must be at least 1")
    if slurm.gpus_per_job is not None and slurm.gpus_per_job < 0:
        raise HarnessError("--slurm-gpus-per-job must be 0 or more")
    flags = {
        "partition": slurm.partition,
        "account": slurm.account,
        "time_minutes": slurm.time_minutes,
        "gpus_per_job": slurm.gpus_per_job,
        "cpus_per_job": slurm.cpus_per_job,
    }
    if request.device != "auto":
        raise HarnessError("--device does not apply with --executor slurm: choose the GPUs with --slurm-gpus-per-job")
    file_values = read_slurm_config(slurm.config) if slurm.config is not None else {}
    source = f"--slurm-config {slurm.config}" if slurm.config is not None else "command line"
    options = merged_slurm_options(file_values, flags, slurm_extra(slurm.options), source)
    if options.gpus_per_job > 1:
        raise HarnessError(
            f"gpus-per-job {options.gpus_per_job}: a Slurm job (one bundle) trains on one GPU; "
            "pack several jobs on it with --slots-per-device"
        )
    return options


def board_stem(results: Path, preset: str, protocol_key: str) -> Path:
    """results/leaderboard-PRESET[-PROTOCOL]: a protocol's board never overwrites the preset's."""
    return results / f"leaderboard-{slug(preset)}{'' if protocol_key == 'standard' else '-' + slug(protocol_key)}"


def queue_root(results: Path) -> Path:
    """The queue's folder, named without creating it (a refused input leaves nothing)."""
    return results / "queue"
