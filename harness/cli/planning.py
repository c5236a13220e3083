"""What the running subcommands share: the chosen tasks, the job plan, the local run and
the leaderboard printed at the end."""

from __future__ import annotations

import argparse
import importlib.util
from pathlib import Path
from typing import Literal

from harness import registry
from harness.api.errors import HarnessError
from harness.api.records import RunRecord
from harness.api.task import Task
from harness.cli.options import parse_seeds, protocol_of, slurm_extra, split_list, task_overrides
from harness.methods.resolve import Method
from harness.outputs import RunOutput
from harness.queue.local import LocalRun
from harness.queue.slurm import SlurmOptions
from harness.queue.slurm_config import merged_slurm_options, read_slurm_config
from harness.report.files import write_reports
from harness.run.devices import parse_device, resolve_device
from harness.run.jobs import PlannedJob, expand_jobs, plan
from harness.store import slug


def chosen_tasks(names: list[str] | None) -> dict[str, Task]:
    """The named tasks, or every registered task that loads (a broken plugin is reported)."""
    names = split_list(names)
    if not names:
        loaded, broken = registry.tasks.load_all()
        for error in broken.values():
            print(f"warning: {error}", flush=True)
        return loaded
    return {name: registry.tasks.get(name) for name in names}


def check_archs(archs: list[str], tasks: list[Task]) -> None:
    """--archs applies to every chosen task that has the architecture; a name no chosen task
    knows is an error."""
    known = {arch.name for task in tasks for arch in task.architectures}
    unknown = [arch for arch in archs if arch not in known]
    if unknown:
        visible = ", ".join(dict.fromkeys(a for task in tasks for a in task.visible_architectures()))
        raise HarnessError(f"unknown architecture {unknown[0]} for the chosen tasks; known: {visible}")


def job_device_type(args: argparse.Namespace) -> str:
    """The device type the jobs will run on (it is part of their keys): `--device` resolved
    as the local workers resolve it. With --no-wait an explicit cpu or cuda[:N] is taken as
    named, unchecked: the workers may be on other machines. Quiet: the run says which device
    it trains on once its jobs are ready (queue/local.py)."""
    if getattr(args, "executor", "local") == "slurm":  # the login node's devices do not matter
        return slurm_options(args).device_type
    if getattr(args, "no_wait", False) and args.device != "auto":
        return parse_device(args.device).type
    return resolve_device(args.device, quiet=True).type


def plan_for(
    methods_per_task: dict[str, list[Method]], tasks: dict[str, Task], args: argparse.Namespace
) -> list[PlannedJob]:
    device_type = job_device_type(args)
    planned: list[PlannedJob] = []
    archs = split_list(args.archs)
    seeds = parse_seeds(args.seeds)
    if archs:
        check_archs(archs, [tasks[name] for name in methods_per_task])
    for task_name, methods in methods_per_task.items():
        task = tasks[task_name]
        task_archs = [a for a in archs if a in {x.name for x in task.architectures}] if archs else None
        if archs and not task_archs:
            continue  # --archs names none of this task's architectures
        jobs = expand_jobs(
            task,
            args.preset,
            task_archs,
            seeds,
            overrides=task_overrides(task, args),
            allow_hidden=getattr(args, "final", False),
            protocol=protocol_of(args),
        )
        for method in methods:
            planned.extend(plan(method, jobs, device_type))
    return planned


def local_run(args: argparse.Namespace) -> LocalRun:
    if getattr(args, "tensorboard", None) is not None and importlib.util.find_spec("tensorboard") is None:
        raise HarnessError('--tensorboard needs the tensorboard package: pip install -e ".[tensorboard]"')
    if args.slots_per_device < 1:
        raise HarnessError("--slots-per-device must be at least 1")
    if args.threads_per_slot is not None and args.threads_per_slot < 1:
        raise HarnessError("--threads-per-slot must be at least 1")
    return LocalRun(
        args.results,
        args.data_root,
        args.device,
        args.slots_per_device,
        args.force,
        not args.no_wait,
        args.threads_per_slot,
        slurm_options(args) if args.executor == "slurm" else None,
    )


def slurm_options(args: argparse.Namespace) -> SlurmOptions:
    """The --slurm-* flags over the --slurm-config file's values, checked."""
    for flag, value in (("--slurm-time", args.slurm_time), ("--slurm-cpus-per-job", args.slurm_cpus_per_job)):
        if value is not None and value < 1:
            raise HarnessError(f"{flag} must be at least 1")
    if args.slurm_gpus_per_job is not None and args.slurm_gpus_per_job < 0:
        raise HarnessError("--slurm-gpus-per-job must be 0 or more")
    config = args.slurm_config
    flags = {
        "partition": args.slurm_partition,
        "account": args.slurm_account,
        "time_minutes": args.slurm_time,
        "gpus_per_job": args.slurm_gpus_per_job,
        "cpus_per_job": args.slurm_cpus_per_job,
    }
    if getattr(args, "device", "auto") != "auto":
        raise HarnessError("--device does not apply with --executor slurm: choose the GPUs with --slurm-gpus-per-job")
    file_values = read_slurm_config(config) if config is not None else {}
    source = f"--slurm-config {config}" if config is not None else "command line"
    options = merged_slurm_options(file_values, flags, slurm_extra(args.slurm_opt), source)
    if options.gpus_per_job > 1:
        raise HarnessError(
            f"gpus-per-job {options.gpus_per_job}: a Slurm job (one bundle) trains on one GPU; "
            "pack several jobs on it with --slots-per-device"
        )
    return options


def board_stem(args: argparse.Namespace) -> Path:
    """results/leaderboard-PRESET[-PROTOCOL]: a protocol's board never overwrites the preset's."""
    key = protocol_of(args).key
    return args.results / f"leaderboard-{slug(args.preset)}{'' if key == 'standard' else '-' + slug(key)}"


def print_leaderboard(args: argparse.Namespace, tasks: dict[str, Task]) -> None:
    include_hidden = getattr(args, "final", False)
    stem = board_stem(args)
    md, html = stem.with_suffix(".md"), stem.with_suffix(".html")
    text = write_reports(
        args.results, tasks, args.preset, include_hidden, md, html, None, args.tensorboard, protocol_of(args)
    )
    print()
    print(text)
    print(f"(written to {md} and {html})")


def finish_run(
    args: argparse.Namespace,
    tasks: dict[str, Task],
    planned: list[PlannedJob],
    records: list[RunRecord] | None,
    submission: str | None,
) -> None:
    """What submit, final and baselines do once their jobs are handed over: the board when
    they waited, and with --json the document."""
    if records is not None:
        print_leaderboard(args, tasks)
    if args.json:
        args.json_output = run_output(args, planned, records, submission)


def finish_dry_run(args: argparse.Namespace, planned: list[PlannedJob], submission: str | None) -> None:
    """--dry-run: the plan as a table for people, or with --json as the run document (a
    recorded job `ok` with its record, the others `planned` with their estimates)."""
    from harness.cli.dry_run import dry_run_plan, print_dry_run

    items, estimates = dry_run_plan(planned, args.results, args.force)
    if not args.json:
        print_dry_run(items, estimates)
        return
    records = [item.record for item in items if item.record is not None]
    seconds = {item.job.key: item.seconds for item in items if item.record is None}
    output = run_output(args, planned, records, submission, seconds)
    args.json_output = output.model_copy(update={"dry_run": True, "estimates": estimates})


def run_output(
    args: argparse.Namespace,
    planned: list[PlannedJob],
    records: list[RunRecord] | None,
    submission: str | None,
    dry_run_seconds: dict[str, float | None] | None = None,
) -> RunOutput:
    """The --json document of submit, final and baselines: every planned job's outcome
    (`queued` without waiting; `planned` with its estimate in a dry run) and, when they
    waited, the preset's board."""
    from harness.outputs import JobResult, RunOutput
    from harness.python_api import leaderboard
    from harness.store import record_path

    by_key = {record.key: record for record in records or []}
    jobs = []
    for item in planned:
        record = by_key.get(item.key)
        waiting: Literal["planned", "queued"] = "planned" if dry_run_seconds is not None else "queued"
        seconds = (dry_run_seconds or {}).get(item.key)
        jobs.append(
            JobResult(
                method=item.method.spec.name,
                task=item.job.task,
                arch=item.job.arch,
                seed=item.job.seed,
                variant=item.job.variant,
                status=waiting if record is None else ("ok" if record.status == "ok" else "failed"),
                primary_metric=record.primary_metric if record else None,
                best_primary=record.best_primary if record else None,
                error=record.error if record else None,
                record=str(record_path(args.results, record)) if record else None,
                estimated_device_hours=None if seconds is None else seconds / 3600,
            )
        )
    final = getattr(args, "final", False)
    waited = records is not None and dry_run_seconds is None
    stem = board_stem(args)
    return RunOutput(
        command=args.command,
        exit_code=0,
        preset=args.preset,
        protocol=" | ".join(sorted({item.job.protocol.key for item in planned})) or protocol_of(args).key,
        submission=submission,
        jobs=jobs,
        failed=sum(job.status == "failed" for job in jobs),
        leaderboard=leaderboard(args.results, args.preset, final, protocol_of(args)) if waited else None,
        files=[str(stem.with_suffix(".md")), str(stem.with_suffix(".html"))] if waited else [],
    )
