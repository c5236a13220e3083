"""What each CLI command does; argument parsing stays in cli.py."""
from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import torch

from baselines import BASELINES, SUBMIT_BASELINES
from harness.cli import DEFAULT_DATA, _indent, _seeds, _split_list
from harness.contracts import RunRecord
from harness.devices import resolve_device
from harness.errors import HarnessError, SubmissionError
from harness.jobs import PlannedJob, expand_jobs, plan, record_unusable, run_job
from harness.leaderboard import build_board, render_board_markdown, rendered_line
from harness.published import PublishedSet, import_published, load_published
from harness.methods import Method, baseline_method, submission_method
from harness.oracle.sandbox import OracleLimits, choose_sandbox
from harness.progress import JobProgress
from harness.queue import DEFAULT_LEASE_SECONDS, JobQueue
from harness.worker import entry_for
from harness.store import atomic_write_text, find_record, load_records, slug
from harness.task_api import Task, TaskOptions
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
    options = TaskOptions(
        pretrained=False if getattr(args, "no_pretrained", False) else None,
        balanced_sampling=False if getattr(args, "no_balanced_sampling", False) else None,
        tta=False if getattr(args, "no_tta", False) else None,
        face_dataset=getattr(args, "face_dataset", None),
    )
    if archs:
        _check_archs(archs, [tasks[name] for name in methods_per_task])
    for task_name, methods in methods_per_task.items():
        task = tasks[task_name]
        task_archs = [a for a in archs if a in {x.name for x in task.architectures}] if archs else None
        if archs and not task_archs:
            continue  # --archs names none of this task's architectures
        jobs = expand_jobs(task, args.preset, task_archs, seeds, options=options,
                           allow_hidden=getattr(args, "final", False))
        for method in methods:
            planned.extend(plan(method, jobs))
    return planned


def _check_archs(archs: list[str], tasks: list[Task]) -> None:
    """--archs applies to every chosen task that has the architecture; a name no chosen task
    knows is an error."""
    known = {arch.name for task in tasks for arch in task.architectures}
    unknown = [arch for arch in archs if arch not in known]
    if unknown:
        visible = ", ".join(dict.fromkeys(a for task in tasks for a in task.visible_architectures()))
        raise HarnessError(f"unknown architecture {unknown[0]} for the chosen tasks; known: {visible}")


def _queue(args: argparse.Namespace) -> JobQueue:
    return JobQueue(args.results / "queue", getattr(args, "lease", DEFAULT_LEASE_SECONDS))


def _local_devices(choice: str) -> list[str]:
    if choice != "auto":
        return [str(resolve_device(choice))]
    if torch.cuda.is_available():
        return [f"cuda:{i}" for i in range(torch.cuda.device_count())]
    return ["cpu"]


def _run_planned(
    planned: list[PlannedJob], tasks: dict[str, Task], args: argparse.Namespace
) -> list[RunRecord] | None:
    """Enqueue the jobs that have no record; unless --no-wait, run local workers and wait."""
    resolve_device(args.device)
    prepared = set()
    checked = set()
    for item in planned:
        task = tasks[item.job.task]
        if (item.job.task, item.job.config) not in prepared:
            task.prepare_data(item.job.config, args.data_root)
            prepared.add((item.job.task, item.job.config))
        if item.job not in checked:
            task.check_job(item.job, args.data_root)
            checked.add(item.job)
    queue = _queue(args)
    records: dict[str, RunRecord] = {}
    todo: list[PlannedJob] = []
    for item in planned:
        cached = None if args.force else find_record(args.results, item.job.preset, item.method.spec.name, item.key)
        if cached is not None and cached.status == "ok":
            records[item.key] = cached
        else:
            todo.append(item)
    added = sum(
        queue.enqueue(entry_for(item, queue, args.results, args.data_root, args.force)) for item in todo
    )
    print(
        f"{len(planned)} jobs: {len(records)} already recorded"
        + (" (use --force to rerun)" if records else "")
        + f", {added} enqueued, {len(todo) - added} already queued, in {queue.root}",
        flush=True,
    )
    if getattr(args, "no_wait", False):
        print("not waiting: start workers with `python runner.py worker --results "
              f"{args.results}` and watch with `python runner.py status --results {args.results}`")
        return None
    if todo:
        _wait_with_workers(queue, [item.key for item in todo], args)
    for item in todo:
        record = find_record(args.results, item.job.preset, item.method.spec.name, item.key)
        if record is not None:
            records[item.key] = record
    return list(records.values())


def _start_workers(args: argparse.Namespace) -> subprocess.Popen:
    command = [
        sys.executable, str(Path(__file__).resolve().parent.parent / "runner.py"), "worker",
        "--devices", ",".join(_local_devices(args.device)),
        "--slots-per-device", str(args.slots_per_device), "--results", str(args.results),
        "--exit-when-idle",
    ]
    return subprocess.Popen(command)


def _wait_with_workers(queue: JobQueue, keys: list[str], args: argparse.Namespace) -> None:
    """Run local workers until every job in `keys` has ended, printing progress."""
    workers = _start_workers(args)
    started = time.monotonic()
    last_line = ""
    interval = 2.0 if sys.stdout.isatty() else 10.0
    next_print = time.monotonic() + interval
    while True:
        states = {key: queue.state_of(key) for key in keys}
        if all(state in ("done", "failed", "cancelled") for state in states.values()):
            break
        if workers.poll() is not None:
            queue.reap_expired()
            workers = _start_workers(args)  # e.g. a foreign worker died holding our job
        if time.monotonic() >= next_print:
            line = _progress_line(queue, keys, states, time.monotonic() - started)
            if line != last_line:
                print(line, flush=True)
                last_line = line
            next_print = time.monotonic() + interval
        time.sleep(0.5)
    workers.wait()


def _progress_line(queue: JobQueue, keys: list[str], states: dict, elapsed: float) -> str:
    ended = sum(1 for s in states.values() if s in ("done", "failed", "cancelled"))
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
    now_running = ", ".join(
        f"{e.method.name} {e.job.label} epoch {e.epoch}/{e.job.config.epochs}" for e in running
    )
    return (f"queue: {ended}/{len(keys)} ended, {len(running)} running"
            + (f" ({now_running})" if now_running else "") + f", {pending} pending{eta}")


def _load_for_board(results: Path) -> tuple[list[RunRecord], list[PublishedSet]]:
    loaded = load_records(results)
    published, problems = load_published(results)
    for problem in [*loaded.problems, *problems]:
        print(f"warning: skipped unreadable file {problem}", file=sys.stderr)
    return loaded.records, published


def _write_reports(
    results: Path, tasks: dict[str, Task], preset: str, include_hidden: bool,
    md: Path | None, html: Path | None, csv: Path | None,
) -> str:
    """Render the board once into the requested files; returns the markdown."""
    records, published = _load_for_board(results)
    board = build_board(records, tasks, preset, include_hidden, published)
    text = render_board_markdown(board, tasks)
    if md is not None:
        atomic_write_text(md, text)
    if html is not None:
        from harness.report_html import render_html

        atomic_write_text(html, render_html(board, tasks, rendered_line(board)))
    if csv is not None:
        atomic_write_text(csv, pd.DataFrame(board.long_rows()).to_csv(index=False))
    return text


def _print_leaderboard(args: argparse.Namespace, tasks: dict[str, Task]) -> None:
    include_hidden = getattr(args, "final", False)
    stem = args.results / f"leaderboard-{slug(args.preset)}"
    md, html = stem.with_suffix(".md"), stem.with_suffix(".html")
    text = _write_reports(args.results, tasks, args.preset, include_hidden, md, html, None)
    print()
    print(text)
    print(f"(written to {md} and {html})")


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
    try:  # the probe passes the losses positionally: one check per number of losses
        for loss_names in {len(t.loss_names): t.loss_names for t in tasks.values()}.values():
            submission_method(args.file, name, args.entry_type, loss_names, sandbox, limits)
    except SubmissionError as exc:  # recorded as failed, reported as one line by the CLI
        record_unusable(submission_jobs, tasks, exc, args.results)
        raise
    print(f"submission {args.file} checked in the {sandbox.name} sandbox as {name!r}", flush=True)
    methods: dict[str, list[Method]] = {}
    for task in tasks.values():
        baselines = [] if args.no_baselines else [baseline_method(b, task.loss_names) for b in SUBMIT_BASELINES]
        methods[task.name] = [*baselines, submissions[task.name]]
    records = _run_planned(_plan_for(methods, tasks, args), tasks, args)
    if records is None:
        return 0
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
    if records is None:
        return 0
    _print_leaderboard(args, tasks)
    return 1 if any(r.status == "failed" for r in records) else 0


def cmd_leaderboard(args: argparse.Namespace) -> int:
    tasks = task_registry()
    preset = args.preset or ("final" if args.final else "smoke")
    if args.final and preset != "final":
        raise HarnessError("--final shows the hidden architectures of the final evaluation: use it with "
                           "--preset final (the default with --final)")
    text = _write_reports(args.results, tasks, preset, args.final, args.out, args.html, args.csv)
    written = [str(p) for p in (args.out, args.html, args.csv) if p is not None]
    if written:
        print(f"leaderboard written to {', '.join(written)}")
    else:
        print(text)
    return 0


def cmd_import_published(args: argparse.Namespace) -> int:
    target, published = import_published(args.file, task_registry(), _split_list(args.presets) or [], args.results)
    methods = sorted({f"{v.method} ({v.entry_type})" for v in published.values})
    print(f"imported {len(published.values)} published values of {len(methods)} methods "
          f"({', '.join(methods)}) for presets {', '.join(published.presets)} into {target}")
    for note in published.notes:
        print(f"note: {note}")
    return 0


def cmd_final(args: argparse.Namespace) -> int:
    """The final evaluation: the `final` preset on every architecture, hidden ones included."""
    args.preset, args.final = "final", True
    return cmd_submit(args)


def cmd_data(args: argparse.Namespace) -> int:
    if args.dataset == "cifar100":
        return _data_cifar(args.root or DEFAULT_DATA / "cifar100", args.synthetic)
    if args.dataset == "weights":
        from tasks.face_age_gender.models import download_weights

        for arch in _split_list(args.archs) or []:
            print(f"{arch}: ImageNet weights in {download_weights(arch)}", flush=True)
        return 0
    return _data_face(args.dataset, args.root or DEFAULT_DATA / args.dataset, args.synthetic)


def _data_cifar(root: Path, synthetic_only: bool) -> int:
    from tasks.cifar100_mtl import SYNTHETIC_TEST, SYNTHETIC_TRAIN, cifar_files, synthetic

    if synthetic_only:
        synthetic.generate(root, SYNTHETIC_TRAIN, SYNTHETIC_TEST)
        print(f"synthetic CIFAR-100 stand-in written to {root / cifar_files.FOLDER}")
        return 0
    print(f"checking CIFAR-100 in {root} (downloading {cifar_files.URL} if needed)", flush=True)
    cifar_files.download(root)
    print(f"CIFAR-100 verified in {root / cifar_files.FOLDER}; use --data-root {root.parent}")
    return 0


def _data_face(dataset: str, root: Path, synthetic_only: bool) -> int:
    from tasks.face_age_gender import readers, synthetic

    generate = {"utkface": synthetic.generate_utkface, "face-csv": synthetic.generate_competition_csv,
                "adience": synthetic.generate_adience}[dataset]
    read = {"utkface": readers.read_utkface, "face-csv": readers.read_competition_csv,
            "adience": readers.read_adience}[dataset]
    if synthetic_only:
        generate(root)
        print(f"synthetic {dataset} files written to {root}")
    result = read(root)
    print(result.summary(f"{dataset} in {root}"))
    for item, reason in result.skipped[:20]:
        print(f"  skipped {item}: {reason}")
    if len(result.skipped) > 20:
        print(f"  ... and {len(result.skipped) - 20} more")
    return 0 if result.samples else 2


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


def cmd_worker(args: argparse.Namespace) -> int:
    from harness.worker import run_workers

    devices = _split_list(args.devices) or ["auto"]
    if devices == ["auto"]:
        devices = _local_devices("auto")
    for device in devices:
        resolve_device(device)
    if args.slots_per_device < 1:
        raise HarnessError("--slots-per-device must be at least 1")
    queue = _queue(args)
    print(f"worker: {len(devices) * args.slots_per_device} slot(s) on {', '.join(devices)} "
          f"serving {queue.root}", flush=True)
    failed = run_workers(queue.root, devices, args.slots_per_device, args.lease, args.exit_when_idle)
    return 1 if failed else 0


def cmd_status(args: argparse.Namespace) -> int:
    queue = _queue(args)
    counts = queue.counts()
    print(f"queue {queue.root}: " + ", ".join(f"{n} {state}" for state, n in counts.items()))
    rows = []
    now = time.time()
    for state in ("running", "pending", "failed", "cancelled", "done"):
        for path, entry in queue.listing(state):
            age = now - path.stat().st_mtime if state == "running" else None
            rows.append({
                "state": state, "method": entry.method.name, "task": entry.job.task, "arch": entry.job.arch,
                "seed": entry.job.seed, "preset": entry.job.preset,
                "epoch": f"{entry.epoch}/{entry.job.config.epochs}", "attempts": entry.attempts,
                "worker": entry.worker or "", "heartbeat": f"{age:.0f}s ago" if age is not None else "",
            })
    if rows:
        print(pd.DataFrame(rows).to_markdown(index=False))
    for problem in queue.problems:
        print(f"warning: unreadable queue file {problem.path} moved to {queue.root / 'unreadable'}: {problem.reason}")
    return 0


def cmd_cancel(args: argparse.Namespace) -> int:
    cancelled = _queue(args).cancel(args.name)
    print(f"cancelled {cancelled} job(s) of {args.name}")
    return 0 if cancelled else 1


def dispatch(args: argparse.Namespace) -> int:
    torch.set_float32_matmul_precision("high")
    handlers = {
        "submit": cmd_submit,
        "baselines": cmd_baselines,
        "leaderboard": cmd_leaderboard,
        "data": cmd_data,
        "validate": cmd_validate,
        "worker": cmd_worker,
        "status": cmd_status,
        "cancel": cmd_cancel,
        "final": cmd_final,
        "import-published": cmd_import_published,
    }
    return handlers[args.command](args)
