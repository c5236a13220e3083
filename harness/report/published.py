"""Published results imported as reference rows (never mixed with the harness's own runs).

Two formats. The leaderboard data a benchmark website publishes (MLS-Bench's JSON: `rows`
with `model` like `baseline:dwa`, `seed` ("42" or "mean") and metric columns like
`test_acc_resnet20-cifar100mt`): per-seed values. And a paper's reported summaries
(`"format": "reported-summaries/1"`, e.g. `tasks/face_age_gender/published/ror-adience.json`):
mean ± std over n units per metric, with no per-unit values, so they are never tested
against. Both are stored under `RESULTS/published/`; leaderboards of the presets the numbers
were measured under show them as rows marked "published".
"""

from __future__ import annotations

import json
import statistics
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from harness.api.errors import HarnessError
from harness.api.records import EntryType
from harness.api.task import Task
from harness.store import atomic_write_text, slug

FOLDER = "published"


class PublishedValue(BaseModel):
    method: str
    entry_type: str
    task: str
    arch: str
    seed: int
    value: float


class PublishedSummary(BaseModel):
    """One reported metric of one published system: mean ± std over `n` units (folds)."""

    method: str
    entry_type: str
    task: str
    arch: str
    metric: str
    mean: float
    std: float | None
    n: int = Field(ge=1)
    setting: str = ""
    where: str = ""  # the place in the source, e.g. "Table IX"


class PublishedSet(BaseModel):
    source: str
    imported_at: str
    presets: list[str]
    values: list[PublishedValue]
    notes: list[str] = []
    summaries: list[PublishedSummary] = []
    caveat: str = ""  # what a reader must know before comparing (shown with the summaries)


SUMMARIES_FORMAT = "reported-summaries/1"


class _SummaryRow(BaseModel):
    model_config = ConfigDict(extra="forbid")

    method: str
    arch: str
    table: str = ""
    setting: str = ""
    metrics: dict[str, tuple[float, float | None]]


class _SummaryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    format: Literal["reported-summaries/1"]
    source: str
    task: str
    unit: str
    n: int = Field(ge=1)
    entry_type: EntryType
    note: str = ""
    rows: list[_SummaryRow]


def parse_summaries(path: Path, data: object, tasks: dict[str, Task], presets: list[str]) -> PublishedSet:
    """A paper's reported means and stds (`reported-summaries/1`)."""
    try:
        reported = _SummaryFile.model_validate(data)
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(part) for part in error["loc"])
        raise HarnessError(f"{path}: not a {SUMMARIES_FORMAT} file ({where}: {error['msg']})") from None
    task = tasks.get(reported.task)
    if task is None:
        raise HarnessError(f"{path}: task {reported.task!r} is not registered (known: {', '.join(sorted(tasks))})")
    notes = []
    summaries = []
    for row in reported.rows:
        for metric, (mean, std) in row.metrics.items():
            summaries.append(
                PublishedSummary(
                    method=row.method,
                    entry_type=reported.entry_type,
                    task=task.name,
                    arch=row.arch,
                    metric=metric,
                    mean=mean,
                    std=std,
                    n=reported.n,
                    setting=row.setting,
                    where=f"Table {row.table}" if row.table else "",
                )
            )
        if not any(a.name == row.arch for a in task.architectures):
            notes.append(
                f"{row.method}: architecture {row.arch} is not one of {task.name}'s; shown as a reference only"
            )
        if task.primary_metric not in row.metrics:
            notes.append(f"{row.method}: no {task.primary_metric} (the board's metric); shown as a reference only")
    return PublishedSet(
        source=path.name,
        imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        presets=presets,
        values=[],
        notes=notes,
        summaries=summaries,
        caveat=f"{reported.source}. {reported.note or f'Mean ± std over {reported.n} {reported.unit}s as reported.'}",
    )


def _metric_column(name: str, tasks: dict[str, Task]) -> tuple[str, str] | None:
    """`test_acc_resnet20-cifar100mt` -> (task, arch) when a task's primary label and
    column tag match."""
    for task in tasks.values():
        prefix = task.primary_label.replace(" ", "_") + "_"
        suffix = "-" + task.column_tag
        if name.startswith(prefix) and name.endswith(suffix):
            arch = name[len(prefix) : -len(suffix)]
            if any(a.name == arch for a in task.architectures):
                return task.name, arch
    return None


def _method(model: str) -> tuple[str, str]:
    kind, _, name = model.partition(":")
    if name and kind in get_args(EntryType):
        return name, kind
    return model, "submission"


def parse_published(path: Path, tasks: dict[str, Task], presets: list[str]) -> PublishedSet:
    try:
        data = json.loads(path.read_text())
        if isinstance(data, dict) and "format" in data:
            return parse_summaries(path, data, tasks, presets)
        rows, metric_columns = data["rows"], data["metric_columns"]
    except FileNotFoundError:
        raise HarnessError(f"published results file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise HarnessError(f"{path} is not a published leaderboard (rows, metric_columns): {exc}") from None
    columns = {name: _metric_column(name, tasks) for name in metric_columns}
    unknown = [name for name, target in columns.items() if target is None]
    if len(unknown) == len(columns):
        raise HarnessError(f"{path}: none of its metric columns ({', '.join(metric_columns)}) matches a task")
    values: list[PublishedValue] = []
    means: list[tuple[dict, str]] = []
    for row in rows:
        method, entry_type = _method(str(row.get("model", "")))
        seed = str(row.get("seed", ""))
        if not seed.lstrip("-").isdigit():
            means.append((row, method))
            continue
        for name, target in columns.items():
            if target is not None and isinstance(row.get(name), (int, float)):
                values.append(
                    PublishedValue(
                        method=method,
                        entry_type=entry_type,
                        task=target[0],
                        arch=target[1],
                        seed=int(seed),
                        value=float(row[name]),
                    )
                )
    notes = [f"column {name} matches no task and was not imported" for name in unknown]
    notes += _check_means(means, columns, values)
    return PublishedSet(
        source=path.name,
        imported_at=datetime.now(UTC).isoformat(timespec="seconds"),
        presets=presets,
        values=values,
        notes=notes,
    )


def _check_means(means: list[tuple[dict, str]], columns: dict, values: list[PublishedValue]) -> list[str]:
    """The file's own mean rows must agree with the per-seed values it lists."""
    notes = []
    for row, method in means:
        for name, target in columns.items():
            published = row.get(name)
            seeds = [v.value for v in values if v.method == method and (v.task, v.arch) == target]
            if target is None or not isinstance(published, (int, float)) or not seeds:
                continue
            if abs(statistics.fmean(seeds) - published) > 1e-6:
                notes.append(f"{method} {name}: published mean {published} differs from the mean of its seeds")
    return notes


def import_published(
    path: Path, tasks: dict[str, Task], presets: list[str], results: Path
) -> tuple[Path, PublishedSet]:
    published = parse_published(path, tasks, presets)
    target = results / FOLDER / f"{slug(path.stem)}.json"
    atomic_write_text(target, published.model_dump_json(indent=1))
    return target, published


def load_published(results: Path) -> tuple[list[PublishedSet], list[str]]:
    """Every imported set, and a line per unreadable file."""
    sets, problems = [], []
    for path in sorted((results / FOLDER).glob("*.json")):
        try:
            sets.append(PublishedSet.model_validate_json(path.read_text()))
        except (OSError, ValidationError) as exc:
            problems.append(f"{path}: {str(exc).splitlines()[0]}")
    return sets, problems
