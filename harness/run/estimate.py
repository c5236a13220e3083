"""Device-time estimates for `--dry-run`, from a table of measured costs.

`harness/run/cost_table.json` holds, per device kind (cpu, cuda), the seconds one training
image and one evaluation image cost for each task, architecture and preset (method `equal`,
the preset's image size and batch), and
each method's training time relative to `equal`; `benchmarks/cost_table.py` measures them
on the machine it runs on and rewrites that device kind's entries. An estimate is
epochs x (train images x train cost + test images x eval cost) x the method's factor: a
planning figure, not a promise (data loading, compilation and contention are not in it).
Where the table has no measurement the estimate says so instead of guessing.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, Field

from harness.api.protocols import SCREEN_PRESET
from harness.api.records import JobSpec, TrainConfig

COST_TABLE = Path(__file__).resolve().with_name("cost_table.json")


class CostEntry(BaseModel):
    train_seconds_per_image: float = Field(gt=0)
    eval_seconds_per_image: float = Field(ge=0)


class DeviceCosts(BaseModel):
    measured: str = Field(description="where and when: the machine, the date, the benchmark's settings")
    costs: dict[str, CostEntry] = Field(default_factory=dict, description='"task/arch/preset" -> per-image costs')
    method_factors: dict[str, float] = Field(
        default_factory=dict,
        description="training time relative to equal; keys: method names, or "
        '"loss-submission" and "gradient-submission" for sandboxed files',
    )


class CostTable(BaseModel):
    schema_version: int = 1
    full_sizes: dict[str, tuple[int, int]] = Field(
        default_factory=dict, description="task -> (train, test) images when a preset does not cap them"
    )
    devices: dict[str, DeviceCosts] = Field(default_factory=dict)


def load_cost_table(path: Path = COST_TABLE) -> CostTable:
    if not path.is_file():
        return CostTable()
    return CostTable.model_validate_json(path.read_text())


def method_factor(costs: DeviceCosts, method: str, level: str, submission: bool) -> float | None:
    """The method's measured factor; a submission's from its format's measured file."""
    if not submission:
        return costs.method_factors.get(method)
    return costs.method_factors.get("loss-submission" if level == "loss" else "gradient-submission")


def job_seconds(
    table: CostTable, job: JobSpec, device_kind: str, method: str, level: str, submission: bool
) -> float | None:
    """Estimated seconds of device time for one job, or None where the table cannot say."""
    costs = table.devices.get(device_kind)
    if costs is None:
        return None
    entry = costs.costs.get(f"{job.task}/{job.arch}/{'dev' if job.preset == SCREEN_PRESET else job.preset}")
    factor = method_factor(costs, method, level, submission)
    sizes = _image_counts(job.config, table.full_sizes.get(job.task))
    if entry is None or factor is None or sizes is None:
        return None
    train, test = sizes
    per_epoch = train * entry.train_seconds_per_image * factor + test * entry.eval_seconds_per_image
    return job.config.epochs * per_epoch


def _image_counts(config: TrainConfig, full: tuple[int, int] | None) -> tuple[int, int] | None:
    """Images trained on and scored per epoch, as harness.api.training_subsets picks them."""
    if full is None:
        return None if config.train_size is None or config.test_size is None else (config.train_size, config.test_size)
    count = full[0]
    held = max(1, round(count * config.heldout_fraction)) if config.heldout_fraction else 0
    train = min(count - held, config.train_size or count)
    train = max(1, round(train * config.train_fraction))
    test = full[1] if not held else held
    return train, min(test, config.test_size or test)
