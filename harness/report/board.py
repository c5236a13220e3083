"""Leaderboards: a pure function of the run records (and imported published rows).

Rows are `method | type`, columns one per task and architecture (the seed's shape:
`test acc resnet20-cifar100mt ↑`). A cell aggregates the seeds (and Adience folds) of its
runs: mean ± sample std, a 95% Student-t interval, n, and Welch's t-test against equal
weighting and against the best baseline; where two rows ran the same seeds (and folds),
the paired difference too (its t-interval, the paired t-test, a bootstrap interval), and
the ▲/▼ marks then use the paired test: the methods share data order and initialisation.
Hidden architectures appear only when asked for (`include_hidden`, the final evaluation).
A board holds the runs of one protocol (`harness.api.protocols`): screening and held-out
runs are ranked only among themselves, under a banner, and never beside published rows.

This module is the board's numbers only, built from records without touching the store
(report/files.py reads the files and places the unreadable ones); report/tables.py turns
them into the text that markdown, HTML and CSV print.
"""

from __future__ import annotations

import json
import math
import statistics
from collections.abc import Iterable
from dataclasses import dataclass, field

from harness.api.errors import HarnessError
from harness.api.protocols import base_preset, resolve_protocol
from harness.api.records import JobSpec, Protocol, RunRecord
from harness.api.task import Task
from harness.report.published import PublishedSet
from harness.report.stats import (
    Comparison,
    PairedComparison,
    Summary,
    paired_test,
    summarize,
    summary_of,
    welch_test,
)

ALPHA = 0.05
REFERENCE = "equal"  # the row every cell is tested against (the JSON fields say `_vs_equal`)
BETTER, WORSE = "▲", "▼"


@dataclass(frozen=True)
class Column:
    """One task on one architecture: the unit a rank and a test compare within."""

    task: Task
    arch: str
    heldout: bool = False  # scored on the held-out validation split, not the test split

    @property
    def key(self) -> tuple[str, str]:
        return self.task.name, self.arch

    @property
    def name(self) -> str:
        return column_name(self.task, self.arch, self.heldout)

    @property
    def rule(self) -> str:
        """The checkpoint rule of its values: the best epoch on the split it scores."""
        return checkpoint_rule(self.heldout)


@dataclass(frozen=True)
class RowKey:
    """A row: a method (with its changed task options, if any) and its type; published rows
    apart, since they are shown but never ranked."""

    method: str
    entry_type: str
    published: bool = False

    @property
    def type_label(self) -> str:
        return f"{self.entry_type} (published)" if self.published else self.entry_type


Unit = tuple[int, "str | None"]  # (seed, variant): what pairs two methods' runs


@dataclass
class Cell:
    """The runs of one row in one column: the values of the ok runs, with the units that pair
    them to another row's, and the failures, which cost the cell its tests and its rank."""

    values: list[float] = field(default_factory=list)
    failed: int = 0  # unreadable records included
    units: list[Unit | None] = field(default_factory=list)  # per value; None: a published number
    unreadable: list[str] = field(default_factory=list)  # record files that could not be read: path: reason
    reported: Summary | None = None  # a paper's mean ± std without its values: shown, never tested
    # the final epoch's metrics of each ok run, by unit: Δm%, the trade-off figure and the
    # hypervolume read these (every head's metric, no choice of epoch on the evaluated split)
    finals: dict[Unit, dict[str, float]] = field(default_factory=dict)
    unscored: bool = False  # a single-task control whose column's metric needs a head it does not train
    environments: set[str] = field(default_factory=set)  # the ok runs' devices and software (Environment.label)

    def by_unit(self) -> dict[Unit, float] | None:
        """value per (seed, variant), or None if a value has no unit or a unit repeats."""
        if any(u is None for u in self.units) or len(set(self.units)) != len(self.units):
            return None
        return {u: v for u, v in zip(self.units, self.values) if u is not None}

    @property
    def summary(self) -> Summary | None:
        if self.reported is not None:
            return self.reported
        return summarize(self.values) if self.values else None

    @property
    def n(self) -> int:
        return self.reported.n if self.reported is not None else len(self.values)

    def final_values(self, metric: str) -> list[float]:
        """The metric at the final epoch of each ok run (no choice of epoch), where finite."""
        values = (finals.get(metric) for finals in self.finals.values())
        return [v for v in values if v is not None and math.isfinite(v)]


@dataclass(frozen=True)
class MethodRole:
    """What a registered control is, from its records' spec: a single-task control trains
    only `trains`; a fixed-weight frontier point has `loss_weights` (`equal` is the centre)."""

    trains: tuple[str, ...] | None = None
    loss_weights: tuple[float, ...] | None = None

    @property
    def control(self) -> bool:
        return self.trains is not None

    @property
    def frontier(self) -> bool:
        return self.loss_weights is not None


def metric_losses(task: Task, metric: str) -> tuple[str, ...]:
    """The task losses a metric judges: the declared loss of a task metric, else all of them
    (a combined score such as the face task's harmonic mean needs every head)."""
    for declared in task.task_metrics:
        if declared.metric == metric:
            return (declared.loss,)
    return task.loss_names


@dataclass(frozen=True)
class UnreadableRun:
    """A record file that could not be read, as report/files.py placed it by the store's
    layout: a failed run of the row and column its path names, or (`cell` None) one no
    single column can hold, only listed. Either way it cannot leave the board unseen."""

    text: str  # "path: reason", one printable line
    cell: tuple[RowKey, tuple[str, str]] | None = None


# how a best baseline or tuned point was chosen: on the preset's held-out runs (apart from the
# numbers tested), or on the numbers it is then tested on (test, or a held-out board's own)
CHOSEN_ON = {
    "validation": "chosen on the validation split of held-out runs",
    "test": "chosen on test: optimistic for the baseline",
    "validation-tested": "chosen on the validation numbers tested: optimistic for the baseline",
}


def column_name(task: Task, arch: str, heldout: bool = False) -> str:
    """The seed's shape, `test acc resnet20-cifar100mt ↑`, with its checkpoint rule: the
    best epoch, chosen on the split it scores (`val acc ... (best val epoch)` under the
    held-out protocol)."""
    arrow = "↑" if task.higher_is_better else "↓"
    label = task.primary_label
    if heldout:
        label = label.replace("test", "val") if "test" in label else f"val {label}"
    return f"{label} {arch}-{task.column_tag} {arrow} ({checkpoint_rule(heldout)})"


def checkpoint_rule(heldout: bool) -> str:
    """Which epoch a column's value comes from: the seed's rule, the best epoch on the split
    scored (the test split's best is a choice made on test, kept for the published table)."""
    return "best val epoch" if heldout else "best test epoch"


def one_file_per_method(records: list[RunRecord]) -> tuple[list[RunRecord], dict[str, int]]:
    """The runs of each method's most recently finished file (by its sha256), and per
    method how many runs of earlier files were left off: a row is one file, so a second
    file under the same name cannot replace some of the first one's seeds."""
    newest: dict[tuple[str, str], str] = {}
    for record in sorted(records, key=lambda r: r.finished_at):
        newest[_file_of(record)] = record.method.source_sha256
    kept = [r for r in records if r.method.source_sha256 == newest[_file_of(r)]]
    superseded: dict[str, int] = {}
    for record in records:
        if record.method.source_sha256 != newest[_file_of(record)]:
            superseded[record.method.name] = superseded.get(record.method.name, 0) + 1
    return kept, superseded


def _file_of(record: RunRecord) -> tuple[str, str]:
    """What one row's runs must share a file by: the name; for a registered method, also
    the task (a family's member, `single:age`, is built from each task's own losses, so
    its hash differs from task to task and none of them supersedes another's)."""
    return record.method.name, record.job.task if record.method.entry_type == "baseline" else ""


def latest_per_run(records: list[RunRecord]) -> list[RunRecord]:
    """One record per (method, task, arch, seed, variant, protocol, task options): the most
    recently finished one (a screening run, or a run with other task options, never hides
    the preset's own run of the same job)."""
    latest: dict[tuple[str, str, str, int, str | None, str, str], RunRecord] = {}
    for record in sorted(records, key=lambda r: r.finished_at):
        job = record.job
        options = json.dumps(job.config.options, sort_keys=True)
        latest[(record.method.name, job.task, job.arch, job.seed, job.variant, job.protocol.key, options)] = record
    return list(latest.values())


_MISSING = object()


def settings_label(task: Task, job: JobSpec, preset_variants: dict[str | None, dict] | None) -> str:
    """The task options `job` changed from its preset's (`recipe=gender-first`), '' for
    none: such runs get a row of their own, never a cell of the method's standard row."""
    if preset_variants is None:
        return ""
    expected = preset_variants.get(job.variant, preset_variants.get(None, {}))
    changed = sorted((key, value) for key, value in job.config.options.items() if expected.get(key, _MISSING) != value)
    return ", ".join(f"{key}={value}" for key, value in changed)


def _preset_variants(task: Task, preset: str) -> dict[str | None, dict] | None:
    """The options of each variant of the task's preset, by variant label; None when the
    preset is not the task's."""
    try:
        config = base_preset(task, preset)[0]
    except (HarnessError, KeyError):
        return None
    return {task.variant_label(variant): variant.options for variant in task.variants(config)}


def _better(task: Task, difference: float) -> bool:
    """Whether `difference` (row minus other) favours the row, by the task's direction."""
    return difference > 0 if task.higher_is_better else difference < 0


@dataclass
class Board:
    """The cells of one preset and protocol and every comparison between them: computed
    here once, so the markdown, HTML, CSV and JSON outputs cannot disagree."""

    preset: str
    columns: list[Column]
    cells: dict[RowKey, dict[tuple[str, str], Cell]]
    runs: list[RunRecord]
    include_hidden: bool
    protocols: dict[str, Protocol] = field(default_factory=dict)  # per task: what its runs here ran under
    other_protocols: list[str] = field(default_factory=list)  # keys of the preset's runs left off this board
    references: list[PublishedSet] = field(default_factory=list)  # reported summaries of the board's tasks
    unplaced: list[str] = field(default_factory=list)  # unreadable files of this preset no cell could hold
    superseded: dict[str, int] = field(default_factory=dict)  # per method: runs of an earlier file left off
    roles: dict[RowKey, MethodRole] = field(default_factory=dict)  # the controls among the rows
    # the same preset's held-out runs (their validation split), where the board scores the
    # test split: what the best baseline and the tuned fixed weights are chosen on, so that
    # no choice reads the numbers it is then tested on
    validation: Board | None = None

    def unreadable(self) -> list[str]:
        """Every unreadable record file the board counted or could not place, with the reason."""
        counted = [u for row in self.cells.values() for cell in row.values() for u in cell.unreadable]
        return sorted(counted) + self.unplaced

    # --- the protocol --------------------------------------------------------------------

    def protocol_keys(self) -> dict[str, str]:
        """Per task, the key of the protocol its runs on this board ran under."""
        return {task: protocol.key for task, protocol in self.protocols.items()}

    @property
    def comparable_to_published(self) -> bool:
        """Whether every task ran its preset's own protocol: only then may published rows sit beside."""
        return bool(self.protocols) and all(protocol.standard for protocol in self.protocols.values())

    def protocol_label(self) -> str:
        """The protocols of the board's tasks: one key, or several joined by ` | `."""
        return " | ".join(sorted(set(self.protocol_keys().values()))) or "standard"

    # --- ordering, comparisons, ranks ---------------------------------------------------

    def role(self, row: RowKey | None) -> MethodRole:
        return self.roles.get(row, MethodRole()) if row is not None else MethodRole()

    def is_control(self, row: RowKey) -> bool:
        """A single-task control or a frontier point: shown, compared against, never ranked."""
        role = self.role(row)
        return role.control or role.frontier

    @property
    def heldout(self) -> bool:
        """Whether the board scores the validation split (its choices are then made on it)."""
        return any(protocol.evaluation == "heldout" for protocol in self.protocols.values())

    def rows(self) -> list[RowKey]:
        """Baselines run here, then the frontier points and single-task controls, then
        published rows, then the entries by type and name."""

        def group(row: RowKey) -> int:
            role = self.role(row)
            return 2 if role.control else 1 if role.frontier else 0

        return sorted(
            self.cells,
            key=lambda k: (k.published, k.entry_type != "baseline" or k.published, group(k), k.entry_type, k.method),
        )

    def column(self, key: tuple[str, str]) -> Column | None:
        """The column of (task, arch), if the board shows it."""
        return next((c for c in self.columns if c.key == key), None)

    def cell(self, row: RowKey, column: Column) -> Cell | None:
        """The row's cell in `column`, None where it has no run there."""
        return self.cells.get(row, {}).get(column.key)

    def _values(self, row: RowKey, column: Column) -> list[float]:
        """The values a comparison or a rank may use: none from a cell with a failed run.
        A method that fails on its bad seeds (a loss sees its own trajectory and can raise)
        would otherwise leave them out of its mean."""
        cell = self.cell(row, column)
        return cell.values if cell and not cell.failed else []

    def has_failures(self, row: RowKey) -> bool:
        """Whether any shown cell of the row holds a failed run: the row gets no average rank."""
        return any(cell.failed for cell in self.cells.get(row, {}).values())

    def reference(self) -> RowKey | None:
        """The `equal` baseline's row, which marks and Δ columns compare against, if it ran."""
        key = RowKey(REFERENCE, "baseline")
        return key if key in self.cells else None

    def best_on_board(self, column: Column, among: Iterable[RowKey] | None = None) -> RowKey | None:
        """The baseline (not a control, or among `among`) with the best mean here in
        `column` (ties: by name), if any."""
        pool = self.cells if among is None else among
        candidates = [
            r
            for r in pool
            if r.entry_type == "baseline" and not r.published and (among is not None or not self.is_control(r))
            if self._values(r, column)
        ]
        if not candidates:
            return None
        sign = 1 if column.task.higher_is_better else -1
        return max(candidates, key=lambda r: (sign * statistics.fmean(self._values(r, column)), r.method))

    def chosen(self, column: Column, among: list[RowKey] | None = None) -> tuple[RowKey | None, str]:
        """The best baseline (or the best of `among`) and how it was chosen (CHOSEN_ON): on
        the validation board, only where every candidate ran there without a failure (the
        numbers tested are then never read to choose, and no candidate is left out by
        missing its held-out runs); else on this board's own numbers, the ones it is then
        tested on (optimistic for the one chosen)."""
        own = "validation-tested" if self.heldout else "test"
        here = [r for r in (among if among is not None else self.cells) if self._values(r, column)]
        pool = [r for r in here if r.entry_type == "baseline" and not r.published]
        pool = [r for r in pool if among is not None or not self.is_control(r)]
        there = self.validation.column(column.key) if self.validation is not None else None
        if self.validation is not None and there is not None and pool:
            if all(self.validation._values(r, there) for r in pool):
                return self.validation.best_on_board(there, pool), "validation"
        return self.best_on_board(column, among), own

    def best_baseline(self, column: Column) -> RowKey | None:
        """The best baseline, chosen as `chosen` says (on validation where there is one)."""
        return self.chosen(column)[0]

    def versus(self, row: RowKey, other: RowKey | None, column: Column) -> Comparison | None:
        """Welch's test of the row against `other`, or None where either has no usable value."""
        mine, theirs = self._values(row, column), self._values(other, column) if other else []
        if other is None or other == row or not mine or not theirs:
            return None
        return welch_test(mine, theirs)

    def paired(self, row: RowKey, other: RowKey | None, column: Column) -> PairedComparison | None:
        """The paired comparison over the seeds (and folds) both rows ran, or None."""
        mine, theirs = self.cell(row, column), self.cell(other, column) if other else None
        if other is None or other == row or mine is None or theirs is None or mine.failed or theirs.failed:
            return None
        a, b = mine.by_unit(), theirs.by_unit()
        if not a or not b:
            return None
        return paired_test(a, b)

    def fully_paired(self, row: RowKey, other: RowKey | None, column: Column) -> bool:
        """Every run of both rows has its partner (same seeds and folds), two or more."""
        mine, theirs = self.cell(row, column), self.cell(other, column) if other else None
        if other == row or mine is None or theirs is None or mine.failed or theirs.failed:
            return False
        a, b = mine.by_unit(), theirs.by_unit()
        return a is not None and b is not None and len(a) >= 2 and set(a) == set(b)

    def significance(self, row: RowKey, other: RowKey | None, column: Column) -> Comparison | None:
        """What the marks use: the paired test where every seed is paired, else Welch's."""
        if self.fully_paired(row, other, column):
            paired = self.paired(row, other, column)
            assert paired is not None
            return Comparison(paired.difference, None, paired.n - 1, paired.p)
        return self.versus(row, other, column)

    def favours(self, difference: float, column: Column) -> bool:
        """Whether `difference` (row minus other) favours the row, by the task's direction."""
        return _better(column.task, difference)

    def mark_of(self, difference: float, column: Column) -> str:
        return BETTER if _better(column.task, difference) else WORSE

    def mark(self, comparison: Comparison | None, column: Column) -> str:
        """▲ / ▼ where the comparison is significant at ALPHA, else ''."""
        if comparison is None or comparison.p is None or comparison.p >= ALPHA:
            return ""
        return BETTER if _better(column.task, comparison.difference) else WORSE

    def ranks(self) -> dict[RowKey, float | None]:
        """Average over columns of each ranked row's rank by mean (1 = best; ties share the
        mean of their ranks); published rows, rows without values and rows with a failed run
        in any column (None) are not ranked: failing a column must not improve a rank."""
        per_row: dict[RowKey, list[float]] = {r: [] for r in self.ranked_rows()}
        unranked = {r for r in self.cells if not r.published and not self.is_control(r)} - set(per_row)
        for column in self.columns:
            for row, rank in self.column_ranks(column).items():
                per_row[row].append(rank)
        ranked = {r: (statistics.fmean(ranks) if ranks else None) for r, ranks in per_row.items()}
        return {**ranked, **dict.fromkeys(unranked)}

    def ranked_rows(self) -> list[RowKey]:
        """The rows a rank is given to: not published, not a control, no failed run in any column."""
        return [r for r in self.cells if not r.published and not self.is_control(r) and not self.has_failures(r)]

    def column_ranks(self, column: Column) -> dict[RowKey, float]:
        """Each ranked row's rank by mean in one column (1 = best; ties share the mean of their ranks)."""
        sign = -1 if column.task.higher_is_better else 1
        scored = sorted(
            ((sign * statistics.fmean(v), r) for r in self.ranked_rows() if (v := self._values(r, column))),
            key=lambda item: item[0],
        )
        ranks: dict[RowKey, float] = {}
        position = 0
        while position < len(scored):
            end = position
            while end + 1 < len(scored) and scored[end + 1][0] == scored[position][0]:
                end += 1
            for index in range(position, end + 1):
                ranks[scored[index][1]] = (position + end) / 2 + 1
            position = end + 1
        return ranks

    def max_n(self) -> int:
        """The most runs in any cell: a cell with fewer says `(n=k)`."""
        return max((c.n for row in self.cells.values() for c in row.values()), default=0)


def _protocols(tasks: dict[str, Task], preset: str, requested: Protocol | None) -> dict[str, Protocol]:
    """Each task's protocol for the board; a task that cannot run it is left off."""
    out = {}
    for name, task in tasks.items():
        try:
            out[name] = resolve_protocol(task, preset, requested)
        except HarnessError:
            continue
    return out


def _value(record: RunRecord) -> float | None:
    """The run's value in its cell: an ok run's best primary metric, if finite (a diverged
    metric is stored as NaN); None counts as a failure."""
    value = record.best_primary
    return value if record.status == "ok" and value is not None and math.isfinite(value) else None


def build_board(
    records: list[RunRecord],
    tasks: dict[str, Task],
    preset: str,
    include_hidden: bool = False,
    published: Iterable[PublishedSet] = (),
    protocol: Protocol | None = None,
    unreadable: Iterable[UnreadableRun] = (),
    with_validation: bool = True,
) -> Board:
    """The preset's board from the runs under `protocol` (default the preset's own): runs of
    any other protocol are left off, and published rows appear only beside the standard one.
    An `unreadable` record file (placed by report/files.place_unreadable) counts as a failed
    run of its method, never as no run."""
    if preset == "final" and protocol is not None and not protocol.standard:
        raise HarnessError("the final evaluation runs its own protocol: no --epochs, --train-fraction or --protocol")
    protocols = _protocols(tasks, preset, protocol)
    # the newest run of each job among this preset's own: another preset's run never hides it
    of_preset = latest_per_run([r for r in records if r.job.preset == preset and r.job.task in tasks])
    runs, others = [], set()
    for record in of_preset:
        if record.job.task in protocols and record.job.protocol == protocols[record.job.task]:
            runs.append(record)
        else:
            others.add(record.job.protocol.key)
    runs, superseded = one_file_per_method(runs)
    standard = {task for task, protocol in protocols.items() if protocol.standard}
    shown_sets = [s for s in published if preset in s.presets]
    published_values = [v for s in shown_sets for v in s.values if v.task in standard]
    summaries = [v for s in shown_sets for v in s.summaries if v.task in standard]
    placed: list[tuple[RowKey, tuple[str, str], str]] = []
    unplaced: list[str] = []
    for failure in unreadable:
        if failure.cell is None:
            unplaced.append(failure.text)
        elif failure.cell[1][0] in protocols:  # a task the board shows under this protocol
            placed.append((*failure.cell, failure.text))
    present = (
        {(r.job.task, r.job.arch) for r in runs}
        | {column for _, column, _ in placed}
        | {(v.task, v.arch) for v in published_values}
        | {(v.task, v.arch) for v in summaries if v.metric == tasks[v.task].primary_metric}
    )
    columns = [
        Column(task, arch.name, protocols[task.name].evaluation == "heldout")
        for task in tasks.values()
        for arch in task.architectures
        if (include_hidden or not arch.hidden) and (task.name, arch.name) in present
    ]
    shown = {c.key for c in columns}
    cells: dict[RowKey, dict[tuple[str, str], Cell]] = {}
    roles: dict[RowKey, MethodRole] = {}
    variants = {name: _preset_variants(task, preset) for name, task in tasks.items()}
    for record in runs:
        column = (record.job.task, record.job.arch)
        if column not in shown:
            continue
        task = tasks[record.job.task]
        label = settings_label(task, record.job, variants[record.job.task])
        name = f"{record.method.name} [{label}]" if label else record.method.name
        row = RowKey(name, record.method.entry_type)
        role = _role(record)
        if role != MethodRole() and not label:
            roles[row] = role
        cell = cells.setdefault(row, {}).setdefault(column, Cell())
        trains = roles.get(row, MethodRole()).trains
        cell.unscored = trains is not None and not set(metric_losses(task, task.primary_metric)) <= set(trains)
        unit = (record.job.seed, record.job.variant)
        if record.status == "ok":
            cell.finals[unit] = dict(record.final_metrics)
            cell.environments.add(record.environment.label())
        if cell.unscored:
            cell.failed += record.status != "ok"
        elif (best := _value(record)) is not None:
            cell.values.append(best)
            cell.units.append(unit)
        else:
            cell.failed += 1
    for row, column, text in placed:
        if column in shown:
            cell = cells.setdefault(row, {}).setdefault(column, Cell())
            cell.failed += 1
            cell.unreadable.append(text)
    for value in published_values:
        if (value.task, value.arch) in shown:
            row = RowKey(value.method, value.entry_type, published=True)
            published_cell = cells.setdefault(row, {}).setdefault((value.task, value.arch), Cell())
            published_cell.values.append(value.value)
            published_cell.units.append(None)
    for summary in summaries:
        if (summary.task, summary.arch) in shown and summary.metric == tasks[summary.task].primary_metric:
            row = RowKey(summary.method, summary.entry_type, published=True)
            cells.setdefault(row, {})[(summary.task, summary.arch)] = Cell(
                reported=summary_of(summary.n, summary.mean, summary.std)
            )
    visible_runs = [r for r in runs if (r.job.task, r.job.arch) in shown]
    references = [s for s in shown_sets if s.summaries]
    validation = None
    if (
        with_validation
        and preset != "final"
        and protocols
        and not any(p.evaluation == "heldout" for p in protocols.values())
    ):
        heldout = (protocol or Protocol()).model_copy(update={"evaluation": "heldout"})
        validation = build_board(records, tasks, preset, include_hidden, protocol=heldout, with_validation=False)
        validation = validation if validation.runs else None
    return Board(
        preset,
        columns,
        cells,
        visible_runs,
        include_hidden,
        protocols,
        sorted(others),
        references,
        unplaced,
        superseded,
        roles,
        validation,
    )


def _role(record: RunRecord) -> MethodRole:
    """A registered control's role from its spec; a file's spec never makes it a control."""
    if record.method.entry_type != "baseline":
        return MethodRole()
    return MethodRole(record.method.trains, record.method.loss_weights)
