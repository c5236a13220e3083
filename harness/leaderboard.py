"""Leaderboards: a pure function of the run records.

Rows are `method | type`, columns one per task and visible architecture (the seed's
shape: `test acc resnet20-cifar100mt ↑`), cells the primary metric, mean ± std over seeds.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import pandas as pd

from harness.contracts import RunRecord
from harness.task_api import Task

TEMPLATES = Path(__file__).resolve().parent / "templates"


@dataclass
class Cell:
    values: list[float]
    failed: int

    def text(self) -> str:
        if not self.values:
            return "failed" if self.failed else "—"
        mean = statistics.fmean(self.values)
        if len(self.values) == 1:
            text = f"{mean:.3f}"
        else:
            text = f"{mean:.2f} ± {statistics.stdev(self.values):.2f}"
        if self.failed:
            text += f" ({self.failed} failed)"
        return text


def column_name(task: Task, arch: str) -> str:
    arrow = "↑" if task.higher_is_better else "↓"
    return f"{task.primary_label} {arch}-{task.column_tag} {arrow}"


def latest_per_run(records: list[RunRecord]) -> list[RunRecord]:
    """One record per (method, task, arch, seed, fold): the most recently finished one."""
    latest: dict[tuple[str, str, str, int, int | None], RunRecord] = {}
    for record in sorted(records, key=lambda r: r.finished_at):
        job = record.job
        latest[(record.method.name, job.task, job.arch, job.seed, job.fold)] = record
    return list(latest.values())


def build_table(
    records: list[RunRecord], tasks: dict[str, Task], preset: str, include_hidden: bool = False
) -> pd.DataFrame:
    """The leaderboard as a DataFrame of cell texts, baselines first."""
    chosen = [r for r in latest_per_run(records) if r.job.preset == preset and r.job.task in tasks]
    columns: list[tuple[str, str]] = []
    for task in tasks.values():
        for arch in task.architectures:
            if arch.hidden and not include_hidden:
                continue
            if any(r.job.task == task.name and r.job.arch == arch.name for r in chosen):
                columns.append((task.name, arch.name))
    rows: dict[tuple[str, str], dict[tuple[str, str], Cell]] = {}
    for record in chosen:
        column = (record.job.task, record.job.arch)
        if column not in columns:
            continue
        row = rows.setdefault((record.method.name, record.method.entry_type), {})
        cell = row.setdefault(column, Cell([], 0))
        if record.status == "ok" and record.best_primary is not None:
            cell.values.append(record.best_primary)
        else:
            cell.failed += 1
    ordered = sorted(rows, key=lambda key: (key[1] != "baseline", key[1], key[0]))
    data = []
    for method, entry_type in ordered:
        line = {"method": method, "type": entry_type}
        for task_name, arch in columns:
            cell = rows[(method, entry_type)].get((task_name, arch))
            line[column_name(tasks[task_name], arch)] = cell.text() if cell else "—"
        data.append(line)
    names = ["method", "type"] + [column_name(tasks[t], a) for t, a in columns]
    return pd.DataFrame(data, columns=names)


def seed_counts(records: list[RunRecord], preset: str) -> list[int]:
    runs = [r for r in latest_per_run(records) if r.job.preset == preset and r.status == "ok"]
    per_cell: dict[tuple[str, str, str], int] = {}
    for r in runs:
        key = (r.method.name, r.job.task, r.job.arch)
        per_cell[key] = per_cell.get(key, 0) + 1
    return sorted(set(per_cell.values()))


def render_markdown(
    records: list[RunRecord], tasks: dict[str, Task], preset: str, include_hidden: bool = False
) -> str:
    table = build_table(records, tasks, preset, include_hidden)
    if table.empty:
        body = "_No run records for this preset yet._"
    else:
        body = table.to_markdown(index=False, disable_numparse=True)
    counts = seed_counts(records, preset)
    metric_notes = [
        f"`{task.name}`: {task.primary_label} = {task.primary_metric} "
        f"({'best over epochs, higher is better' if task.higher_is_better else 'lower is better'})"
        for task in tasks.values()
    ]
    notes = metric_notes + [
        "One seed: the value; several seeds: mean ± sample std. "
        f"Seeds per cell: {', '.join(map(str, counts)) if counts else 'none'}.",
        "`failed` means every run of that cell failed; `—` means no run.",
        f"Rendered {datetime.now(timezone.utc).isoformat(timespec='seconds')} from "
        f"{sum(1 for r in records if r.job.preset == preset)} run records.",
    ]
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), keep_trailing_newline=True, autoescape=False
    )
    return environment.get_template("leaderboard.md.j2").render(preset=preset, table=body, notes=notes)
