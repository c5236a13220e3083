"""What the commands answer with `--json`: one document on stdout per run, a pydantic model
per command, versioned. The JSON Schemas in docs/schema/ are generated from these models
(`python -m harness.outputs docs/schema`) and a test keeps them equal, so a program can
validate what it reads. Light: pydantic only (the CLI imports it before torch).

Exit codes are those of the human output: 0 success, 1 a job or check failed, 2 bad input
or an unusable submission, 3 a harness bug; an error is an `ErrorOutput` document, of one
shape whatever the command (`error.kind`, `error.message`). Every document says when it was
made and by which harness (`created_at`, `harness_version`, `git_commit`).

Units: every accuracy is a percentage (0-100) and every error (MAE) is in the task's own
unit (years of age); `MetricInfo` names each metric's unit and direction.
"""

from __future__ import annotations

import datetime
import functools
import json
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from harness.version import HARNESS_VERSION

SCHEMA_VERSION = 2


@functools.lru_cache(maxsize=1)
def git_commit() -> str | None:
    """The commit of the harness's own checkout (None: not a git checkout, or no git): a
    document then says which code made it, uncommitted changes marked `+dirty`."""
    root = Path(__file__).resolve().parent.parent
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "") if head else None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")


ErrorKind = Literal["usage", "bad-input", "submission", "plugin", "interrupted", "internal"]


class ErrorDetail(BaseModel):
    kind: ErrorKind = Field(
        description="usage: the command line did not parse; bad-input: an argument or file the harness refuses; "
        "submission: the submission cannot run; plugin: a registered plugin failed; interrupted: stopped by the "
        "user; internal: a harness bug (its traceback in a file the message names)"
    )
    message: str = Field(description="the one-line error the human output prints")


class Output(BaseModel):
    schema_version: int = SCHEMA_VERSION
    command: str
    exit_code: int = Field(description="the process's exit code: 0 ok, 1 failed jobs or checks, 2 bad input, 3 bug")
    error: ErrorDetail | None = Field(
        default=None,
        description="why the command could not do its work (every document of exit code 2 or 3 has one; an "
        "`ErrorOutput` has nothing else)",
    )
    created_at: str = Field(default_factory=_now, description="when the document was made (UTC, ISO 8601)")
    harness_version: str = HARNESS_VERSION
    git_commit: str | None = Field(
        default_factory=git_commit,
        description="the harness checkout's commit (+dirty: with uncommitted changes); None outside a git checkout",
    )


class ErrorOutput(Output):
    """The one shape of every error, whatever the command: `command` says which command failed."""

    error: ErrorDetail


def error_kind(exc: BaseException) -> ErrorKind:
    """The error document's `error.kind` of an exception that reached a front door (the CLI,
    the Python API, the MCP server): the one mapping all of them use."""
    from harness.api.errors import HarnessError, PluginError, SubmissionError

    if isinstance(exc, SubmissionError):
        return "submission"
    if isinstance(exc, PluginError):
        return "plugin"
    if isinstance(exc, HarnessError):
        return "bad-input"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return "internal"


def error_output(command: str, exit_code: int, kind: ErrorKind, message: str) -> ErrorOutput:
    return ErrorOutput(command=command, exit_code=exit_code, error=ErrorDetail(kind=kind, message=message))


class BoardCell(BaseModel):
    """One row of the leaderboard's long form: a method on a task/architecture column."""

    preset: str
    protocol: str = Field(description="the task's protocol: standard, or its screening and held-out changes")
    task: str
    arch: str
    column: str
    rule: str = Field(
        default="best test epoch",
        description="the checkpoint rule of `values`: the best epoch on the split scored ('best test epoch', the "
        "seed table's; 'best val epoch' under --protocol heldout)",
    )
    method: str
    type: str
    control: Literal["single-task", "fixed-weights"] | None = Field(
        default=None, description="a single-task control (single:<loss>) or a fixed-weight grid point"
    )
    unscored: bool = Field(
        default=False,
        description="a single-task control whose column metric needs a head it does not train: no value, no test",
    )
    published: bool
    reported: bool = Field(
        default=False,
        description="a published mean ± std without its per-seed values (n, mean, std and interval as reported; "
        "never tested against)",
    )
    n: int
    failed: int = Field(description="failed runs, unreadable record files included")
    unreadable: list[str] = Field(
        default_factory=list, description="record files of this cell that could not be read (path: reason)"
    )
    environments: list[str] = Field(
        default_factory=list,
        description="the device and software of the cell's ok runs (more than one: its runs are not computed alike)",
    )
    values: list[float]
    mean: float | None
    std: float | None
    ci95_low: float | None
    ci95_high: float | None
    delta_vs_equal: float | None
    p_vs_equal: float | None = Field(description="Welch's two-sided t-test")
    best_baseline: str | None
    delta_vs_best_baseline: float | None
    p_vs_best_baseline: float | None
    paired_n_vs_equal: int | None
    paired_delta_vs_equal: float | None
    paired_ci95_low_vs_equal: float | None
    paired_ci95_high_vs_equal: float | None
    paired_p_vs_equal: float | None
    bootstrap_low_vs_equal: float | None
    bootstrap_high_vs_equal: float | None
    paired_p_vs_best_baseline: float | None
    marks_use_paired_test_vs_equal: bool
    final_epoch_values: list[float] = Field(
        default_factory=list, description="the column's metric at the final epoch of each ok run (no choice of epoch)"
    )
    final_epoch_mean: float | None = None
    best_baseline_chosen_on: Literal["validation", "test", "validation-tested"] | None = Field(
        default=None,
        description="validation: chosen on the preset's held-out runs (every candidate ran there); test or "
        "validation-tested: on the numbers it is then tested on (optimistic for the baseline)",
    )
    tuned_fixed_weights: str | None = Field(default=None, description="the fixed-weight grid's best point here")
    tuned_fixed_weights_chosen_on: Literal["validation", "test", "validation-tested"] | None = None
    test_vs_equal: str | None = Field(default=None, description="paired t-test or Welch's t-test")
    diff_vs_equal: float | None = None
    diff_ci95_low_vs_equal: float | None = None
    diff_ci95_high_vs_equal: float | None = None
    p_holm_vs_equal: float | None = Field(
        default=None, description="Holm-adjusted over the row's comparisons in the column; the marks use it"
    )
    test_vs_tuned_fixed_weights: str | None = None
    diff_vs_tuned_fixed_weights: float | None = None
    diff_ci95_low_vs_tuned_fixed_weights: float | None = None
    diff_ci95_high_vs_tuned_fixed_weights: float | None = None
    p_holm_vs_tuned_fixed_weights: float | None = None
    test_vs_best_baseline: str | None = None
    diff_vs_best_baseline: float | None = None
    diff_ci95_low_vs_best_baseline: float | None = None
    diff_ci95_high_vs_best_baseline: float | None = None
    p_holm_vs_best_baseline: float | None = None
    delta_m_percent: float | None = Field(
        default=None,
        description="Δm%: mean over seeds of 100 × the mean over task losses of the oriented relative change "
        "against the same seed's single-task controls (final epoch)",
    )
    delta_m_percent_ci95_low: float | None = None
    delta_m_percent_ci95_high: float | None = None
    delta_m_percent_n: int | None = None
    hypervolume: float | None = Field(
        default=None, description="per seed, the product of (1 + each Δm term), reference point the origin"
    )
    hypervolume_ci95_low: float | None = None
    hypervolume_ci95_high: float | None = None
    hypervolume_n: int | None = None
    avg_rank: float | None
    verdict: str | None = Field(default=None, description="an entry's verdict in this column, each test stated")


class BoardColumn(BaseModel):
    """One task/architecture column: what its runs could detect, its tuned fixed weights and
    its frontier."""

    task: str
    arch: str
    column: str
    rule: str
    power_n: int | None = Field(description="paired runs per comparison the power is computed for")
    power_paired_std: float | None = Field(description="pooled sample std of the paired differences vs equal")
    power_comparisons: int | None
    min_detectable_difference: float | None = Field(
        description="the smallest true paired difference detected at α=0.05 with power 0.8 (noncentral t)"
    )
    best_baseline: str | None
    best_baseline_chosen_on: Literal["validation", "test", "validation-tested"] | None
    tuned_fixed_weights: str | None
    tuned_fixed_weights_label: str | None
    tuned_fixed_weights_chosen_on: Literal["validation", "test", "validation-tested"] | None
    frontier_points: list[str]
    frontier_hypervolume: float | None
    frontier_hypervolume_ci95_low: float | None
    frontier_hypervolume_ci95_high: float | None
    frontier_hypervolume_n: int | None


class LeaderboardOutput(Output):
    command: Literal["leaderboard"] = "leaderboard"
    preset: str
    protocol: str = Field(
        description="the board's protocol: standard, a key such as epochs=5,heldout, or several joined by ' | '"
    )
    protocols: dict[str, str] = Field(description="per task, the protocol its runs on this board ran under")
    comparable_to_published: bool = Field(
        description="false under screening or held-out evaluation: not comparable to the published table"
    )
    include_hidden: bool
    cells: list[BoardCell]
    columns: list[BoardColumn] = Field(default_factory=list)
    verdicts: list[str] = Field(default_factory=list, description="each entry's verdict per column")
    unreadable_records: list[str] = Field(
        default_factory=list,
        description="run record files of this preset that could not be read (path: reason): each counts as a "
        "failed run in the cell its path names",
    )
    files: list[str] = Field(default_factory=list, description="the reports written (--out, --html, --csv)")

    def frame(self) -> Any:
        """The cells as a pandas DataFrame, one row per method and column."""
        import pandas as pd

        return pd.DataFrame([cell.model_dump() for cell in self.cells])


class QueueJob(BaseModel):
    state: str
    method: str
    task: str
    arch: str
    seed: int
    preset: str
    protocol: str = Field(default="standard", description="standard, or the screening and held-out changes")
    variant: str | None
    epoch: int = Field(description="epochs finished")
    epochs: int
    attempts: int
    worker: str | None
    heartbeat_seconds_ago: float | None = Field(description="running jobs: time since the worker last wrote")
    slurm_job: str | None
    slurm_state: str | None


class StatusOutput(Output):
    command: Literal["status"] = "status"
    queue: str
    counts: dict[str, int]
    jobs: list[QueueJob]
    unreadable: list[str] = Field(default_factory=list, description="queue files moved aside, with the reason")


class ValidationEpoch(BaseModel):
    """One epoch of the synthetic trajectory: mean per-task values."""

    epoch: int
    weights: dict[str, float] | None = Field(description="loss level: mean d total / d loss_i")
    losses: dict[str, float] | None = Field(description="loss level: the synthetic task losses")
    cosine_before: float | None = Field(description="gradient level: between the first two task gradients")
    cosine_after: dict[str, float] | None = Field(description="gradient level: combined vs each task's gradient")
    coefficients: dict[str, float] | None = Field(description="gradient level: effective coefficient of g_i")
    ms_per_call: float


class ValidationOutput(Output):
    command: Literal["validate"] = "validate"
    file: str
    format: Literal["loss", "gradient", "gram"]
    sandbox: str
    seconds: float
    calls: int
    epochs: list[ValidationEpoch]
    median_ms_per_call: float | None
    warnings: list[str]
    problems: list[str]
    error_details: str


class JobResult(BaseModel):
    """One planned job: its record's outcome, or `queued` when the command did not wait."""

    method: str
    task: str
    arch: str
    seed: int
    variant: str | None
    status: Literal["ok", "failed", "queued", "planned"] = Field(
        description="planned: a --dry-run's job that would train (a recorded one says ok)"
    )
    primary_metric: str | None
    best_primary: float | None
    error: str | None
    record: str | None = Field(description="the run record's path (JSON)")
    estimated_device_hours: float | None = Field(
        default=None, description="--dry-run: the cost table's estimate for a planned job (None: not measured)"
    )


class DeviceEstimate(BaseModel):
    """--dry-run: the device-hours the planned jobs of one device kind would take."""

    device: str
    device_hours: float = Field(description="the sum over the planned jobs with a measured cost")
    unmeasured_jobs: int = Field(description="planned jobs the cost table has no measurement for (not counted)")
    cost_table: str | None = Field(description="how and when the table's entries for this device were measured")


class MetricInfo(BaseModel):
    """A metric as the task describes it: accuracies in percent, scores (F1, harmonic) as
    fractions 0-1, errors in the quantity's own unit."""

    name: str = Field(description="the key in the run records' metrics")
    label: str
    unit: str = Field(description="'%', '0-1', or the quantity's unit ('years'); '' where the task does not say")
    higher_is_better: bool


class VerdictComparison(BaseModel):
    """The entry against one other row in one column."""

    against: str = Field(description="the reference row (equal), the tuned fixed weights, or the best baseline")
    method: str = Field(description="the row compared with")
    chosen_on: Literal["validation", "test", "validation-tested"] | None = Field(
        description="how that row was chosen (None: `equal`, fixed in advance)"
    )
    test: Literal["paired t-test", "Welch's t-test"]
    n: int = Field(description="pairs (paired t-test) or the smaller side's runs (Welch)")
    difference: float = Field(description="entry minus the other row, in the metric's unit")
    ci95_low: float | None
    ci95_high: float | None
    p: float | None = Field(description="two-sided")
    p_holm: float | None = Field(description="Holm-adjusted over the entry's comparisons in the column")
    outcome: Literal["better", "worse", "no significant difference", "not tested"] = Field(
        description="better or worse: Holm-adjusted p below 0.05, by the metric's direction; not tested: too "
        "few runs for a test"
    )


class VerdictColumn(BaseModel):
    """The entry in one task/architecture column."""

    task: str
    arch: str
    column: str
    rule: str = Field(description="the checkpoint rule of the values: 'best test epoch' or 'best val epoch'")
    metric: MetricInfo
    n: int = Field(description="the entry's ok runs")
    failed: int = Field(description="failed runs: the column is then neither tested nor ranked")
    mean: float | None
    std: float | None
    ci95_low: float | None
    ci95_high: float | None
    rank: float | None = Field(description="rank by mean among the column's ranked rows (1 = best; ties shared)")
    ranked: int = Field(description="rows ranked in the column")
    comparisons: list[VerdictComparison]
    delta_m_percent: float | None = Field(description="Δm% against the single-task controls (final epoch)")
    delta_m_percent_ci95_low: float | None
    delta_m_percent_ci95_high: float | None
    delta_m_percent_n: int | None
    versus_single_task: Literal["better", "worse", "no significant difference"] | None = Field(
        description="the Δm% interval above 0, below 0, or across it"
    )
    verdict: str | None = Field(description="the board's sentence for this cell, each test stated")


class Verdict(BaseModel):
    """A submission's outcome in one object: what an agent reads after `submit` or `final`."""

    submission: str
    summary: str = Field(description="one line: the comparisons with equal and the average rank")
    average_rank: float | None = Field(description="over the board's columns (None: a failed run, or no values)")
    ranked: int = Field(description="rows ranked on the board")
    columns_compared_with_equal: int
    better_than_equal: int = Field(description="columns where the entry beats equal (Holm-adjusted p < 0.05)")
    worse_than_equal: int
    columns: list[VerdictColumn]


class RunOutput(Output):
    """What submit, final and baselines ran; the board of the preset when they waited."""

    command: Literal["submit", "final", "baselines"]
    verdict: Verdict | None = Field(
        default=None,
        description="submit and final, when they waited: the submission's outcome per column (None: no row yet)",
    )
    preset: str
    protocol: str = Field(description="the planned jobs' protocol: standard, a key, or several joined by ' | '")
    submission: str | None = Field(description="the submission's row name (submit and final)")
    jobs: list[JobResult]
    failed: int = Field(description="jobs that failed (of every method)")
    leaderboard: LeaderboardOutput | None
    files: list[str] = Field(default_factory=list, description="the board's markdown and HTML files")
    dry_run: bool = Field(default=False, description="--dry-run: nothing was queued; see `estimates`")
    estimates: list[DeviceEstimate] = Field(default_factory=list, description="--dry-run: per device kind")


class PluginEntry(BaseModel):
    """One registration of an entry-point group, loaded or broken."""

    kind: Literal["task", "method", "method family", "sandbox"]
    group: str = Field(description="the entry-point group, e.g. mtl_bench.tasks")
    name: str
    distribution: str
    reference: str = Field(description="module:attribute")
    loaded: bool
    summary: str | None = Field(description="what it is (None: it did not load)")
    error: str | None = Field(description="why it did not load")
    losses: list[str] | None = Field(default=None, description="a task's losses, in order")
    architectures: list[str] | None = Field(default=None, description="a task's visible architectures")
    primary_metric: MetricInfo | None = Field(default=None, description="a task's board metric")
    task_metrics: list[MetricInfo] | None = Field(
        default=None, description="a task's metric per loss (Δm%, the trade-off figure), in the losses' order"
    )


class FamilyMembers(BaseModel):
    """The members a method family makes for one task's losses."""

    task: str
    family: str
    members: list[str]
    error: str | None = Field(description="the family's own error for this task (then no members)")


class PluginsOutput(Output):
    """`plugins`: everything registered, where it comes from, and each family's members per task."""

    command: Literal["plugins"] = "plugins"
    plugins: list[PluginEntry]
    family_members: list[FamilyMembers]


COMMAND_OUTPUTS: dict[str, type[Output]] = {
    "submit": RunOutput,
    "final": RunOutput,
    "baselines": RunOutput,
    "leaderboard": LeaderboardOutput,
    "status": StatusOutput,
    "validate": ValidationOutput,
    "plugins": PluginsOutput,
    "error": ErrorOutput,
}


def schema_text(model: type[BaseModel]) -> str:
    return json.dumps(model.model_json_schema(), indent=1, sort_keys=True) + "\n"


def write_schemas(folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, model in COMMAND_OUTPUTS.items():
        path = folder / f"{name}.v{SCHEMA_VERSION}.json"
        path.write_text(schema_text(model))
        written.append(path)
    return written


if __name__ == "__main__":
    for path in write_schemas(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/schema")):
        print(path)
