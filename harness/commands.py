"""What each CLI command does; argument parsing stays in cli.py."""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import torch

from baselines import BASELINES
from harness.cli import _indent, _seeds, _split_list
from harness.contracts import RunRecord
from harness.devices import resolve_device
from harness.errors import HarnessError, SubmissionError
from harness.jobs import PlannedJob, expand_jobs, plan, record_unusable, run_job
from harness.leaderboard import render_markdown
from harness.methods import Method, baseline_method, submission_method
from harness.oracle.sandbox import OracleLimits, choose_sandbox
from harness.progress import JobProgress
from harness.store import atomic_write_text, find_record, load_records, slug
from harness.task_api import Task
from tasks import task_registry


def _chosen_tasks(names: list[str] | None) -> dict[str, Task]:
    registry = task_registry()
    names = _split_list(names)
    if not names:
        return registry
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise HarnessError(f"unknown task {unknown[0]!r}; known: {', '.join(registry)}")
    return {name: registry[name] for name in names}


def _plan_for(
    methods_per_task: dict[str, list[Method]], tasks: dict[str, Task], args: argparse.Namespace
) -> list[PlannedJob]:
    planned: list[PlannedJob] = []
    archs = _split_list(args.archs)
    seeds = _seeds(args.seeds)
    for task_name, methods in methods_per_task.items():
        jobs = expand_jobs(tasks[task_name], args.preset, archs, seeds)
        for method in methods:
            planned.extend(plan(method, jobs))
    return planned


def _run_planned(
    planned: list[PlannedJob], tasks: dict[str, Task], args: argparse.Namespace
) -> list[RunRecord]:
    device = resolve_device(args.device)
    prepared = set()
    for item in planned:
        if (item.job.task, item.job.config) not in prepared:
            tasks[item.job.task].prepare_data(item.job.config, args.data_root)
            prepared.add((item.job.task, item.job.config))
    todo: list[PlannedJob] = []
    records: list[RunRecord] = []
    for item in planned:
        cached = None if args.force else find_record(args.results, item.job.preset, item.method.spec.name, item.key)
        if cached is not None and cached.status == "ok":
            records.append(cached)
        else:
            todo.append(item)
    cached_count = len(planned) - len(todo)
    print(
        f"{len(planned)} jobs on {device}: {len(todo)} to run, {cached_count} already recorded"
        + ("" if not cached_count else " (use --force to rerun)"),
        flush=True,
    )
    for index, item in enumerate(todo, 1):
        job = item.job
        label = f"[{index}/{len(todo)}] {item.method.spec.name} {job.task}/{job.arch} seed {job.seed}"
        progress = JobProgress(label, job.config.epochs)
        record = run_job(item, tasks[job.task], device, args.data_root, args.results, progress)
        if record.status == "failed":
            progress.message(f"{label} FAILED: {record.error}")
            if record.error_details:
                progress.message(_indent(record.error_details))
        records.append(record)
    return records


def _print_leaderboard(args: argparse.Namespace, tasks: dict[str, Task]) -> None:
    loaded = load_records(args.results)
    for problem in loaded.problems:
        print(f"warning: skipped unreadable record {problem}", file=sys.stderr)
    text = render_markdown(loaded.records, tasks, args.preset)
    path = args.results / f"leaderboard-{slug(args.preset)}.md"
    atomic_write_text(path, text)
    print()
    print(text)
    print(f"(written to {path})")


def cmd_submit(args: argparse.Namespace) -> int:
    tasks = _chosen_tasks(args.tasks)
    name = args.name or args.file.stem
    resolve_device(args.device)  # fail fast on a bad --device
    sandbox = choose_sandbox(args.sandbox, warn=lambda text: print(text, file=sys.stderr))
    limits = OracleLimits()
    submissions = {
        task.name: submission_method(
            args.file, name, args.entry_type, task.loss_names, sandbox, limits, check=False
        )
        for task in tasks.values()
    }
    submission_jobs = _plan_for({t: [m] for t, m in submissions.items()}, tasks, args)
    try:
        for task in tasks.values():
            submission_method(args.file, name, args.entry_type, task.loss_names, sandbox, limits)
    except SubmissionError as exc:  # recorded as failed, reported as one line by the CLI
        record_unusable(submission_jobs, tasks, exc, args.results)
        raise
    print(f"submission {args.file} checked in the {sandbox.name} sandbox as {name!r}", flush=True)
    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        baselines = [] if args.no_baselines else [baseline_method(b, task.loss_names) for b in BASELINES]
        methods[task.name] = [*baselines, submissions[task.name]]
    records = _run_planned(_plan_for(methods, tasks, args), tasks, args)
    _print_leaderboard(args, tasks)
    failed = [r for r in records if r.status == "failed" and r.method.name == name]
    if failed:
        print(f"error: {len(failed)} job(s) of {name} failed: {failed[0].error}", file=sys.stderr)
        return 1
    return 0


def cmd_baselines(args: argparse.Namespace) -> int:
    tasks = _chosen_tasks(args.tasks)
    names = _split_list(args.only) or list(BASELINES)
    methods = {task.name: [baseline_method(n, task.loss_names) for n in names] for task in tasks.values()}
    records = _run_planned(_plan_for(methods, tasks, args), tasks, args)
    _print_leaderboard(args, tasks)
    return 1 if any(r.status == "failed" for r in records) else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    tasks = task_registry()
    loaded = load_records(args.results)
    for problem in loaded.problems:
        print(f"warning: skipped unreadable record {problem}", file=sys.stderr)
    text = render_markdown(loaded.records, tasks, args.preset)
    if args.out:
        atomic_write_text(args.out, text)
        print(f"leaderboard written to {args.out}")
    else:
        print(text)
    return 0


def cmd_data(args: argparse.Namespace) -> int:
    from tasks.cifar100_mtl import SYNTHETIC_TEST, SYNTHETIC_TRAIN, cifar_files, synthetic

    root: Path = args.root
    if args.synthetic:
        synthetic.generate(root, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
        print(f"synthetic CIFAR-100 stand-in written to {root / cifar_files.FOLDER}")
        return 0
    print(f"checking CIFAR-100 in {root} (downloading {cifar_files.URL} if needed)", flush=True)
    cifar_files.download(root)
    print(f"CIFAR-100 verified in {root / cifar_files.FOLDER}; use --data-root {root.parent}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from harness.validate import plot_weights, validate

    task = _chosen_tasks([args.task])[args.task]
    if args.epochs < 1 or args.steps < 1:
        raise HarnessError("--epochs and --steps must be at least 1")
    sandbox = choose_sandbox(args.sandbox, warn=lambda text: print(text, file=sys.stderr))
    started = time.perf_counter()
    report = validate(args.file, task.loss_names, sandbox, OracleLimits(), args.epochs, args.steps)
    print(f"validated {args.file} in the {sandbox.name} sandbox in {time.perf_counter() - started:.1f}s "
          f"({len(report.steps)} calls)")
    if report.steps:
        print("\nmean effective weight (d total / d loss) and loss per epoch of the synthetic trajectory:")
        print(report.weight_table().to_markdown(floatfmt=".4f"))
        median = sorted(s["ms"] for s in report.steps)[len(report.steps) // 2]
        print(f"\nmedian time per call: {median:.2f} ms")
        if args.plot:
            plot_weights(report, args.plot)
            print(f"weights plotted to {args.plot}")
    for warning in report.warnings:
        print(f"warning: {warning}")
    for problem in report.problems:
        print(f"PROBLEM: {problem}")
    if report.error_details:
        print(_indent(report.error_details))
    if not report.problems:
        print("no problems found")
        return 0
    return 1 if report.steps else 2


def dispatch(args: argparse.Namespace) -> int:
    torch.set_float32_matmul_precision("high")
    handlers = {
        "submit": cmd_submit,
        "baselines": cmd_baselines,
        "leaderboard": cmd_leaderboard,
        "data": cmd_data,
        "validate": cmd_validate,
    }
    return handlers[args.command](args)
