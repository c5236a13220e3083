"""The board's verdicts: what a multi-task reviewer asks of a row before believing it.

- **Δm%** against the single-task controls (the LibMTL convention): per seed (and fold),
  paired with the same seed's control runs, the mean over task losses of the oriented
  relative change of the loss's metric, ×100, from the final epoch's metrics; then the
  mean over seeds with its 95% Student-t interval.
- **The hypervolume** of the same per-seed points, each metric as 1 + its Δm term (1 =
  the single-task model, reference point the origin), for tasks of two or three losses.
- **Comparisons**: a row against `equal`, the tuned fixed weights (the frontier's best
  point) and the best baseline, each chosen on the validation split where the preset has
  held-out runs of them (else on the board's own numbers, and said so), each by the paired
  t-test where every run is paired, else Welch's; Holm's correction over the row's
  comparisons in the column decides every mark.
- **Power**: per column, the smallest paired difference the runs could detect.
- **One verdict** per entry and column, a sentence that states each test.

Computed from a `Board` (report/board.py), never from the store; tables.py and the JSON
print what this module answers, so they cannot disagree.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass

from scipy import stats as scipy_stats

from harness.report.board import ALPHA, CHOSEN_ON, REFERENCE, Board, Column, RowKey
from harness.report.pareto import hypervolume
from harness.report.stats import holm, minimum_detectable_difference, summarize, welch_test

POWER = 0.8
TUNED = "tuned fixed weights"
BEST = "best baseline"


@dataclass(frozen=True)
class Test:
    """One comparison of a row with another, as a verdict states it."""

    against: str  # REFERENCE, TUNED or BEST
    other: RowKey
    chosen_on: str | None  # how `other` was chosen (a key of board.CHOSEN_ON); None for `equal`
    difference: float  # row minus other, in the column's metric
    ci_low: float | None
    ci_high: float | None
    n: int  # pairs (paired) or the smaller side's runs (Welch)
    paired: bool
    p: float | None
    p_holm: float | None  # Holm-adjusted over the row's comparisons in this column

    @property
    def test_name(self) -> str:
        return "paired t-test" if self.paired else "Welch's t-test"

    @property
    def significant(self) -> bool:
        return self.p_holm is not None and self.p_holm < ALPHA


@dataclass(frozen=True)
class Interval:
    """A mean over seeds (and folds) with its 95% Student-t interval and the values behind it."""

    values: tuple[float, ...]
    mean: float
    low: float | None
    high: float | None
    of: int | None = None  # the row's units, where some had no partner (Δm: no control run on that seed)

    @property
    def n(self) -> int:
        return len(self.values)


@dataclass(frozen=True)
class Power:
    """What a column's runs could detect: from the paired spread of the rows against `equal`."""

    n: int  # pairs per comparison (the most any row has)
    spread: float  # pooled sample std of the paired differences
    rows: int  # comparisons pooled
    detectable: float | None  # the smallest true difference found with power POWER at ALPHA


def _interval(values: list[float]) -> Interval | None:
    if not values:
        return None
    summary = summarize(values)
    return Interval(tuple(values), summary.mean, summary.ci_low, summary.ci_high)


# --- the single-task controls, Δm and the hypervolume -----------------------------------


def controls(board: Board, column: Column) -> dict[str, RowKey]:
    """Per task loss, the single-task control row that trains it alone and ran here."""
    out: dict[str, RowKey] = {}
    for row in board.cells:
        trains = board.role(row).trains
        if trains is not None and len(trains) == 1 and board.cell(row, column) is not None:
            out[trains[0]] = row
    return out


Terms = dict[tuple[int, str | None], list[float]]  # per unit (seed, variant): each task metric's Δm term


def relative_terms(board: Board, row: RowKey, column: Column) -> tuple[Terms | None, str]:
    """Per unit, each task metric's oriented relative change against that unit's control
    (the Δm terms), or None and why: the row is a control, has a failed run or a metric
    that is missing or not finite (a run must not drop a bad seed from its Δm that way), or
    a control is missing or failed. Units a control did not run, or where its metric is 0
    or not finite, are left out, and the row's unit count says so."""
    task = column.task
    cell = board.cell(row, column)
    if not task.task_metrics:
        return None, f"{task.name} declares no task metrics"
    if board.role(row).control or cell is None or cell.failed or not cell.finals:
        return None, "a failed run" if cell is not None and cell.failed else "not for a control"
    metrics = [m.metric for m in task.task_metrics]
    if any(not math.isfinite(finals.get(m, math.nan)) for finals in cell.finals.values() for m in metrics):
        return None, "a task metric of this row is missing or not finite"
    control_rows = controls(board, column)
    missing = [m.loss for m in task.task_metrics if m.loss not in control_rows]
    if missing:
        return None, f"no single-task control of {', '.join(missing)} ran here (`baselines --controls`)"
    control_cells = [board.cell(control_rows[m.loss], column) for m in task.task_metrics]
    if any(c is None or c.failed for c in control_cells):
        return None, "a single-task control failed here"
    out: Terms = {}
    for unit, finals in cell.finals.items():
        terms = []
        for metric, control in zip(task.task_metrics, control_cells):
            assert control is not None
            single = control.finals.get(unit, {}).get(metric.metric, math.nan)
            if single == 0 or not math.isfinite(single):
                break
            sign = 1.0 if metric.higher_is_better else -1.0
            terms.append(sign * (finals[metric.metric] - single) / single)
        else:
            out[unit] = terms
    return (out, "") if out else (None, "no seed shared with the single-task controls")


def _relative_terms(board: Board, row: RowKey, column: Column) -> Terms | None:
    return relative_terms(board, row, column)[0]


def delta_m(board: Board, row: RowKey, column: Column) -> Interval | None:
    """Δm% of the row in the column: per unit, 100 × the mean of the task metrics' oriented
    relative changes against the same unit's single-task controls; then over units."""
    terms = _relative_terms(board, row, column)
    if terms is None:
        return None
    interval = _interval([100.0 * statistics.fmean(unit_terms) for unit_terms in terms.values()])
    return _covering(interval, board, row, column)


def _covering(interval: Interval | None, board: Board, row: RowKey, column: Column) -> Interval | None:
    """The interval with the row's unit count where it covers fewer units than the row ran."""
    cell = board.cell(row, column)
    if interval is None or cell is None or len(cell.finals) == interval.n:
        return interval
    return Interval(interval.values, interval.mean, interval.low, interval.high, len(cell.finals))


def _points(terms: dict[tuple[int, str | None], list[float]]) -> dict[tuple[int, str | None], tuple[float, ...]]:
    """Each unit's point in the hypervolume's space: 1 + each Δm term (1 = single-task)."""
    return {unit: tuple(1.0 + t for t in unit_terms) for unit, unit_terms in terms.items()}


def row_hypervolume(board: Board, row: RowKey, column: Column) -> Interval | None:
    """The hypervolume of the row's per-unit point (its box from the origin), over units;
    tasks of two or three losses only."""
    if len(column.task.task_metrics) not in (2, 3):
        return None
    terms = _relative_terms(board, row, column)
    if terms is None:
        return None
    origin = (0.0,) * len(column.task.task_metrics)
    interval = _interval([hypervolume([point], origin) for point in _points(terms).values()])
    return _covering(interval, board, row, column)


def frontier_rows(board: Board, column: Column) -> list[RowKey]:
    """The fixed-weight grid's rows that ran here, `equal` (its centre) included, in grid
    order (by the first task's weight)."""
    rows = [r for r in board.cells if board.role(r).frontier and board.cell(r, column) is not None]
    reference = board.reference()
    if rows and reference is not None and board.cell(reference, column) is not None:
        rows.append(reference)
    return sorted(rows, key=lambda r: weights_of(board, r, column))


def weights_of(board: Board, row: RowKey, column: Column) -> tuple[float, ...]:
    """A frontier row's loss weights (`equal`: all ones)."""
    weights = board.role(row).loss_weights
    return weights if weights is not None else (1.0,) * len(column.task.loss_names)


def frontier_hypervolume(board: Board, column: Column) -> Interval | None:
    """The hypervolume of the whole fixed-weight frontier: per unit, of the set of its grid
    points' (paired) points; over the units every grid point ran."""
    rows = frontier_rows(board, column)
    if len(column.task.task_metrics) not in (2, 3) or len(rows) < 2:
        return None
    per_row = [_relative_terms(board, r, column) for r in rows]
    if any(terms is None for terms in per_row):
        return None
    points = [_points(terms) for terms in per_row if terms is not None]
    shared = set.intersection(*(set(p) for p in points))
    origin = (0.0,) * len(column.task.task_metrics)
    return _interval([hypervolume([p[unit] for p in points], origin) for unit in sorted(shared, key=str)])


# --- comparisons, Holm and power --------------------------------------------------------


def _test(board: Board, row: RowKey, other: RowKey, column: Column, against: str, chosen_on: str | None) -> Test | None:
    """The row against `other`: paired where every run is paired, else Welch's; None where
    either has no usable value."""
    if board.fully_paired(row, other, column):
        paired = board.paired(row, other, column)
        assert paired is not None
        return Test(
            against, other, chosen_on, paired.difference, paired.ci_low, paired.ci_high, paired.n, True, paired.p, None
        )
    mine, theirs = board.cell(row, column), board.cell(other, column)
    if mine is None or theirs is None or mine.failed or theirs.failed or not mine.values or not theirs.values:
        return None
    welch = welch_test(mine.values, theirs.values)
    low = high = None
    if welch.df is not None:  # the Welch interval: t(0.975, Welch-Satterthwaite df) x the standard error
        se = math.sqrt(
            statistics.variance(mine.values) / len(mine.values)
            + statistics.variance(theirs.values) / len(theirs.values)
        )
        half = float(scipy_stats.t.ppf(0.975, welch.df)) * se
        low, high = welch.difference - half, welch.difference + half
    n = min(len(mine.values), len(theirs.values))
    return Test(against, other, chosen_on, welch.difference, low, high, n, False, welch.p, None)


def tuned_point(board: Board, column: Column) -> tuple[RowKey | None, str]:
    """The frontier's best point in the column, and the split it was chosen on."""
    rows = frontier_rows(board, column)
    if not rows:
        return None, "test"
    return board.chosen(column, among=rows)


def comparisons(board: Board, row: RowKey, column: Column) -> list[Test]:
    """The row against `equal`, the tuned fixed weights and the best baseline, where each
    exists, is not the row itself and both cells have values; Holm-adjusted together over
    the distinct rows compared with."""
    wanted: list[tuple[str, RowKey | None, str | None]] = [(REFERENCE, board.reference(), None)]
    tuned, tuned_on = tuned_point(board, column)
    wanted.append((TUNED, tuned, tuned_on))
    best, best_on = board.chosen(column)
    wanted.append((BEST, best, best_on))
    tests = [
        test
        for against, other, chosen_on in wanted
        if other is not None and other != row
        if (test := _test(board, row, other, column, against, chosen_on)) is not None
    ]
    # one test per other row: where the best baseline or the tuned point is `equal`, it is
    # the same comparison, counted once in the correction
    distinct = list(dict.fromkeys(t.other for t in tests))
    adjusted = dict(zip(distinct, holm([next(t.p for t in tests if t.other == other) for other in distinct])))
    return [Test(**{**t.__dict__, "p_holm": adjusted[t.other]}) for t in tests]


def test_against(board: Board, row: RowKey, column: Column, against: str) -> Test | None:
    return next((t for t in comparisons(board, row, column) if t.against == against), None)


def mark(board: Board, row: RowKey, column: Column) -> str:
    """▲ / ▼ against `equal` where its Holm-adjusted p is below ALPHA, else ''."""
    test = test_against(board, row, column, REFERENCE)
    if test is None or not test.significant:
        return ""
    return board.mark_of(test.difference, column)


def power(board: Board, column: Column) -> Power | None:
    """The smallest paired difference the column's runs could detect (ALPHA, POWER): from
    the spread of the paired differences against `equal` of the registered baselines (no
    control or grid point: their spread says little of an entry's; no entry: a file must not
    set the bar it is judged by), pooled over their degrees of freedom, at the smallest n."""
    reference = board.reference()
    if reference is None:
        return None
    squares, dfs, sizes = 0.0, 0, []
    for row in board.cells:
        if row == reference or row.entry_type != "baseline" or row.published or board.is_control(row):
            continue
        if not board.fully_paired(row, reference, column):
            continue
        mine, theirs = board.cell(row, column), board.cell(reference, column)
        assert mine is not None and theirs is not None
        a, b = mine.by_unit(), theirs.by_unit()
        assert a is not None and b is not None
        differences = [a[u] - b[u] for u in a]
        squares += statistics.variance(differences) * (len(differences) - 1)
        dfs += len(differences) - 1
        sizes.append(len(differences))
    if not sizes:
        return None
    spread = math.sqrt(squares / dfs)
    n = min(sizes)
    return Power(n, spread, len(sizes), minimum_detectable_difference(spread, n, ALPHA, POWER))


# --- the verdict -----------------------------------------------------------------------


def _signed(value: float, digits: int = 2) -> str:
    return f"{value:+.{digits}f}".replace("-", "−")


def _interval_text(low: float | None, high: float | None, digits: int = 2) -> str:
    return "" if low is None or high is None else f" [{_signed(low, digits)}, {_signed(high, digits)}]"


def weights_label(board: Board, row: RowKey, column: Column) -> str:
    """`w=0.7` (the first task's share) for two tasks, else the shares of every task."""
    weights = weights_of(board, row, column)
    shares = [w / sum(weights) for w in weights]
    if len(shares) == 2:
        return f"w={shares[0]:.2g}"
    return "w=(" + ", ".join(f"{s:.2g}" for s in shares) + ")"


def test_text(board: Board, test: Test, column: Column) -> str:
    """`+0.40 [−0.20, +1.00] vs equal (paired t-test, n=3, Holm p=0.41, not significant)`."""
    if test.against == TUNED:
        chosen = f"{test.other.method}, {weights_label(board, test.other, column)}, {CHOSEN_ON[test.chosen_on or '']}"
        target = f"{TUNED} ({chosen})"
    elif test.against == BEST:
        target = f"the best baseline {test.other.method} ({CHOSEN_ON[test.chosen_on or '']})"
    else:
        target = test.against
    if test.p_holm is None:
        verdict = "too few runs to test"
    else:
        verdict = (
            ("better" if board.favours(test.difference, column) else "worse") if test.significant else "not significant"
        )
        verdict = f"Holm p={test.p_holm:.3g}, {verdict}"
    return (
        f"{_signed(test.difference)}{_interval_text(test.ci_low, test.ci_high)} vs {target} "
        f"({test.test_name}, n={test.n}, {verdict})"
    )


def verdict(board: Board, row: RowKey, column: Column) -> str | None:
    """One sentence per entry and column: each comparison with its test, then Δm%."""
    cell = board.cell(row, column)
    if cell is None or row.published:
        return None
    metric = column.task.primary_label
    head = f"{row.method} on {column.arch} ({column.task.name}), {metric} ({column.rule}):"
    if cell.failed:
        return f"{head} {cell.failed} failed run(s): no test, no verdict."
    parts: list[str] = []
    stated: dict[RowKey, int] = {}  # the part that states the test against each row
    for test in comparisons(board, row, column):
        if test.other in stated:  # the best baseline or the tuned point is `equal`: one test, stated once
            also = f"{test.against}, {CHOSEN_ON[test.chosen_on or '']}"
            parts[stated[test.other]] = parts[stated[test.other]].replace(" vs ", f" vs (also the {also}) ", 1)
            continue
        stated[test.other] = len(parts)
        parts.append(test_text(board, test, column))
    dm = delta_m(board, row, column)
    if dm is not None:
        of = f" of {dm.of}" if dm.of is not None else ""
        parts.append(f"Δm {_signed(dm.mean)}%{_interval_text(dm.low, dm.high)} (n={dm.n}{of})")
    elif column.task.task_metrics:
        parts.append(f"no Δm: {relative_terms(board, row, column)[1]}")
    return f"{head} " + ("; ".join(parts) if parts else "nothing to compare with")
