"""`--dry-run`: what `submit`, `final` or `baselines` would run, what is already recorded,
and the device-hours the rest would take (harness/run/estimate.py), without queueing,
preparing data or starting a sandbox."""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

from harness.run.estimate import CostTable, job_seconds, load_cost_table
from harness.run.jobs import PlannedJob
from harness.store import find_record


def print_dry_run(planned: list[PlannedJob], results: Path, force: bool) -> None:
    table = load_cost_table()
    groups: dict[tuple[str, str, str, str], list[PlannedJob]] = defaultdict(list)
    for item in planned:
        groups[(item.method.spec.name, item.job.task, item.job.arch, item.device_type)].append(item)
    rows = []
    hours: dict[str, float] = defaultdict(float)
    unknown: dict[str, int] = defaultdict(int)
    for (method, task, arch, device), items in groups.items():
        cached = 0 if force else sum(_recorded(results, item) for item in items)
        todo = [item for item in items if force or not _recorded(results, item)]
        seconds = [_seconds(table, item) for item in todo]
        known = [s for s in seconds if s is not None]
        hours[device] += sum(known) / 3600
        unknown[device] += len(seconds) - len(known)
        estimate = "—" if len(known) < len(seconds) else f"{sum(known) / 3600:.3f}"
        rows.append([method, task, arch, device, len(items), cached, len(todo), estimate])
    headers = ["method", "task", "arch", "device", "jobs", "recorded", "to run", "est. device-hours"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    for device in sorted(hours.keys() | unknown.keys()):
        measured = table.devices.get(device)
        where = f" (cost table: {measured.measured})" if measured else " (no cost table for this device kind)"
        line = f"{device}: about {hours[device]:.2f} device-hours to run{where}"
        if unknown[device]:
            line += f"; {unknown[device]} job(s) without a measured cost are not counted"
        print(line)
    print("dry run: nothing was queued (refresh the costs with benchmarks/cost_table.py)")


def _recorded(results: Path, item: PlannedJob) -> bool:
    record = find_record(results, item.job.preset, item.method.spec.name, item.key)
    return record is not None and record.status == "ok"


def _seconds(table: CostTable, item: PlannedJob) -> float | None:
    method = item.method
    submission = method.untrusted_path is not None
    level = method.level if submission else (method.info.level if method.info is not None else "loss")
    return job_seconds(table, item.job, item.device_type, method.spec.name, level, submission)
