"""The HTML report's per-epoch figures: per column, one panel per test metric (the task's
`curve_metrics`) and one per task loss's effective weight, each a matplotlib figure of its
own (so that panels wrap on a narrow screen), encoded as PNG by `panel_png`.

Each method's line is its mean over the seeds (and folds) at each epoch, with a band from the
lowest to the highest seed's value; each method gets its own colour, line style and marker,
and lines are drawn widest first, so that two identical curves (dwa under equal on a short
run) both stay visible. The epoch axis has integer ticks (1 = the first epoch's end). Titles
and axis labels read as people write them, with the unit and the direction (`metric_label`:
the task's `metric_descriptions` where it declares them, else its task metrics, else the key).
"""

from __future__ import annotations

import base64
import io
import statistics
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

from harness.api.records import EpochLog, RunRecord
from harness.api.task import Task

if TYPE_CHECKING:
    from matplotlib.figure import Figure

DPI = 150
TICK_SIZE = 10
LABEL_SIZE = 11
TITLE_SIZE = 12
PANEL_SIZE = (5.2, 3.6)  # inches, before the legend below the axes
COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf")
LINESTYLES = ("-", "--", "-.", ":")
MARKERS = ("o", "s", "^", "D", "v", "P", "X", "*")

_WORDS = {"acc": "acc", "mae": "MAE", "rmse": "RMSE", "f1": "F1", "1off": "1-off acc", "exact": "exact acc"}
_LOWER_IS_BETTER = ("_mae", "_rmse", "_mse", "_error", "_err", "loss")


def metric_unit(metric: str, task: Task | None = None) -> str:
    """The metric's unit: as the task declares it (an error in its quantity's unit, `years`),
    else from its key: accuracies are percentages; anything else has none ('')."""
    declared = task.declared_metric(metric) if task is not None else None
    if declared is not None and declared.unit:
        return declared.unit
    return "%" if metric.lower().endswith(("_acc", "acc", "_exact", "_1off")) else ""


def metric_direction(task: Task, metric: str) -> bool:
    """Whether higher is better: the task's declaration (a described metric, a task metric,
    the primary metric), else from the key (errors and losses are lower-is-better)."""
    declared = task.declared_metric(metric)
    return declared.higher_is_better if declared is not None else not metric.lower().endswith(_LOWER_IS_BETTER)


def metric_name(task: Task, metric: str) -> str:
    """How a reader knows the metric: the task's label for it (`age MAE`), else one made
    from the key (`age_rmse` -> `age RMSE`, `age_1off` -> `age 1-off acc`)."""
    declared = task.declared_metric(metric)
    if declared is not None:
        return declared.label
    return " ".join(_WORDS.get(word.lower(), word) for word in metric.split("_") if word)


def metric_label(task: Task, metric: str) -> str:
    """`age RMSE (years) ↓`, `fine acc (%) ↑`, `harmonic ↑`: name, unit, direction. This is
    the one place the report's figures name a metric."""
    unit = metric_unit(metric, task)
    arrow = "↑" if metric_direction(task, metric) else "↓"
    return f"{metric_name(task, metric)}{f' ({unit})' if unit else ''} {arrow}"


@dataclass(frozen=True)
class Series:
    """One method's values per epoch: the mean, the lowest and the highest over its runs."""

    method: str
    epochs: tuple[int, ...]  # 1-based: epoch 1 is the first epoch's end
    mean: tuple[float, ...]
    low: tuple[float, ...]
    high: tuple[float, ...]
    runs: int  # the most runs behind any epoch's value


def series(runs: Sequence[RunRecord], read: Callable[[EpochLog], float | None]) -> list[Series]:
    """Per method (sorted by name), the per-epoch mean, min and max over its runs of `read`."""
    per_method: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for log in run.epochs:
            value = read(log)
            if value is not None:
                per_method[run.method.name][log.epoch + 1].append(value)
    out = []
    for method, by_epoch in sorted(per_method.items()):
        epochs = sorted(by_epoch)
        out.append(
            Series(
                method,
                tuple(epochs),
                tuple(statistics.fmean(by_epoch[e]) for e in epochs),
                tuple(min(by_epoch[e]) for e in epochs),
                tuple(max(by_epoch[e]) for e in epochs),
                max(len(by_epoch[e]) for e in epochs),
            )
        )
    return out


@dataclass(frozen=True)
class Panel:
    title: str
    ylabel: str
    read: Callable[[EpochLog], float | None]


def _test_metric(metric: str, log: EpochLog) -> float | None:
    return log.test_metrics.get(metric)


def _task_weight(loss: str, log: EpochLog) -> float | None:
    return log.task_weights.get(loss)


def panels(task: Task) -> list[Panel]:
    """The column's panels: each curve metric, then each task loss's effective weight."""
    out = []
    for metric in task.curve_metrics or (task.primary_metric,):
        label = metric_label(task, metric)
        out.append(Panel(f"test {metric_name(task, metric)} per epoch", label, partial(_test_metric, metric)))
    for loss in task.loss_names:
        out.append(
            Panel(
                f"effective weight of the {loss} loss",
                f"weight of {loss} (d total / d loss)",
                partial(_task_weight, loss),
            )
        )
    return out


def style(index: int, count: int) -> dict[str, object]:
    """The index-th method's line: colour, line style and marker all differ between
    neighbours, and earlier lines are wider with bigger markers, so a later identical line
    drawn on top leaves them visible."""
    colours = COLOURS
    widest = count - 1 - index  # 0 for the last, drawn on top
    return {
        "color": colours[index % len(colours)],
        "linestyle": LINESTYLES[index % len(LINESTYLES)],
        "marker": MARKERS[index % len(MARKERS)],
        "linewidth": 1.5 + 0.8 * min(widest, 3),
        "markersize": 5.0 + 1.6 * min(widest, 3),
        "markerfacecolor": "none" if index % 2 else colours[index % len(colours)],
        "markeredgewidth": 1.4,
    }


def panel_figure(panel: Panel, runs: Sequence[RunRecord]) -> Figure:
    """One panel as a matplotlib figure (not encoded: tests read its axes); a submission's
    line is named `★ name` in the legend, as the tables mark it."""
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    lines = series(runs, panel.read)
    submissions = {run.method.name for run in runs if run.method.entry_type == "submission"}
    rows = max(1, (len(lines) + 1) // 2)  # legend rows under the axes, two entries a row
    legend_height = 0.32 * rows + 0.35
    figure = Figure(figsize=(PANEL_SIZE[0], PANEL_SIZE[1] + legend_height), dpi=DPI)
    axis = figure.add_subplot()
    for index, line in enumerate(lines):
        drawn = style(index, len(lines))
        if line.runs > 1:
            axis.fill_between(line.epochs, line.low, line.high, color=drawn["color"], alpha=0.12, linewidth=0)
        label = f"{line.method} (n={line.runs})" if line.runs > 1 else line.method
        label = f"★ {label}" if line.method in submissions else label
        axis.plot(line.epochs, line.mean, label=label, **drawn)  # type: ignore[arg-type]
    axis.set_title(panel.title, fontsize=TITLE_SIZE)
    axis.set_xlabel("epoch", fontsize=LABEL_SIZE)
    axis.set_ylabel(panel.ylabel, fontsize=LABEL_SIZE)
    axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    if lines:
        last = max(e for line in lines for e in line.epochs)
        axis.set_xlim(0.8, last + 0.2)
    axis.tick_params(labelsize=TICK_SIZE)
    axis.grid(alpha=0.3)
    if lines:
        axis.legend(
            loc="upper center",
            bbox_to_anchor=(0.5, -0.2),
            ncol=min(2, len(lines)),
            fontsize=TICK_SIZE,
            frameon=False,
            handlelength=3.2,
        )
    figure.tight_layout()
    return figure


def panel_png(figure: Figure) -> str:
    """The figure as a base64 PNG at DPI."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, bbox_inches="tight")
    return base64.b64encode(buffer.getvalue()).decode()


def curve_images(task: Task, runs: Sequence[RunRecord]) -> list[dict[str, str]]:
    """Each panel of the column as {title, alt, png}: what the HTML template embeds."""
    out = []
    for panel in panels(task):
        figure = panel_figure(panel, runs)
        out.append({"title": panel.title, "alt": f"{panel.title}: {panel.ylabel} by epoch", "png": panel_png(figure)})
    return out
