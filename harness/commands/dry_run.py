"""`--dry-run`: what `submit`, `final` or `baselines` would run, what is already recorded,
and the device-hours the rest would take (harness/run/estimate.py), without queueing,
preparing data or starting a sandbox. The CLI's table and the document come from the same
`dry_run_plan`."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from harness.api.records import RunRecord
from harness.outputs import DeviceEstimate
from harness.run.estimate import CostTable, job_seconds, load_cost_table
from harness.run.jobs import PlannedJob
from harness.store import find_record


@dataclass(frozen=True)
class PlannedItem:
    job: PlannedJob
    record: RunRecord | None  # an ok record of the same key: the job would not train
    seconds: float | None  # the estimate for a job that would train (None: not measured)


def dry_run_plan(
    planned: list[PlannedJob], results: Path, force: bool
) -> tuple[list[PlannedItem], list[DeviceEstimate]]:
    """Every planned job with its record (unless --force) or its estimate, and the totals
    per device kind."""
    table = load_cost_table()
    items = []
    for job in planned:
        record = None if force else _recorded(results, job)
        items.append(PlannedItem(job, record, None if record else _seconds(table, job)))
    hours: dict[str, float] = defaultdict(float)
    unknown: dict[str, int] = defaultdict(int)
    for item in items:
        if item.record is None:
            hours[item.job.device_type] += (item.seconds or 0.0) / 3600
            unknown[item.job.device_type] += item.seconds is None
    estimates = [
        DeviceEstimate(
            device=device,
            device_hours=hours[device],
            unmeasured_jobs=unknown[device],
            cost_table=table.devices[device].measured if device in table.devices else None,
        )
        for device in sorted(hours)
    ]
    return items, estimates


def _recorded(results: Path, item: PlannedJob) -> RunRecord | None:
    record = find_record(results, item.job.preset, item.method.spec.name, item.key)
    return record if record is not None and record.status == "ok" else None


def _seconds(table: CostTable, item: PlannedJob) -> float | None:
    method = item.method
    submission = method.untrusted_path is not None  # a trusted loss file costs as its own method
    return job_seconds(table, item.job, item.device_type, method.spec.name, method.kind.level, submission)
