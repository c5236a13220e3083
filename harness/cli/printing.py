"""What the training commands print for people once the library has answered: the dry run's
plan as a table, or the board and the files it was written to."""

from __future__ import annotations

import sys
from collections import defaultdict

from tabulate import tabulate

from harness.commands.dry_run import PlannedItem
from harness.commands.runs import RunAnswer
from harness.outputs import DeviceEstimate, RunOutput


def print_run(answer: RunAnswer) -> RunOutput:
    """The answer's human side; returns its document (the CLI prints it with --json)."""
    if answer.dry_run is not None:
        print_dry_run(answer.dry_run, answer.output.estimates)
    elif answer.board_text is not None:
        print()
        print(answer.board_text)
        md, html = answer.output.files
        print(f"(written to {md} and {html})")
    if answer.error is not None:
        print(f"error: {answer.error}", file=sys.stderr)
    return answer.output


def print_dry_run(items: list[PlannedItem], estimates: list[DeviceEstimate]) -> None:
    groups: dict[tuple[str, str, str, str], list[PlannedItem]] = defaultdict(list)
    for item in items:
        groups[(item.job.method.spec.name, item.job.job.task, item.job.job.arch, item.job.device_type)].append(item)
    rows = []
    for (method, task, arch, device), members in groups.items():
        todo = [item for item in members if item.record is None]
        known = [item.seconds for item in todo if item.seconds is not None]
        hours = "—" if len(known) < len(todo) else f"{sum(known) / 3600:.3f}"
        rows.append([method, task, arch, device, len(members), len(members) - len(todo), len(todo), hours])
    headers = ["method", "task", "arch", "device", "jobs", "recorded", "to run", "est. device-hours"]
    print(tabulate(rows, headers=headers, tablefmt="github"))
    for estimate in estimates:
        where = (
            f" (cost table: {estimate.cost_table})" if estimate.cost_table else " (no cost table for this device kind)"
        )
        line = f"{estimate.device}: about {estimate.device_hours:.2f} device-hours to run{where}"
        if estimate.unmeasured_jobs:
            line += f"; {estimate.unmeasured_jobs} job(s) without a measured cost are not counted"
        print(line)
    print("dry run: nothing was queued (refresh the costs with benchmarks/cost_table.py)")
