"""The HTML report: the leaderboard, the verdicts, per-column statistics, the trade-off
figures (inline SVG), training curves and effective task weights per method (matplotlib
PNGs embedded as data URIs), and a reproducibility footer. One self-contained file: no scripts or images fetched from anywhere."""

from __future__ import annotations

import base64
import io
import statistics
from collections import defaultdict

import jinja2
import markupsafe

from harness.api.records import RunRecord
from harness.api.task import Task
from harness.report.board import Board, Column
from harness.report.figures import tradeoff_plots
from harness.report.long_form import verdict_lines
from harness.report.markdown import TEMPLATES, notes
from harness.report.provenance import provenance
from harness.report.tables import column_lines, detail_table, main_table, protocol_banner, reference_tables
from harness.report.tradeoff import tradeoff_svg


def _mean_curves(runs: list[RunRecord], read) -> dict[str, list[float]]:
    """Per method, the per-epoch mean over its runs of `read(epoch_log)` (None skipped)."""
    per_method: dict[str, dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        for log in run.epochs:
            value = read(log)
            if value is not None:
                per_method[run.method.name][log.epoch].append(value)
    return {
        method: [statistics.fmean(epochs[e]) for e in sorted(epochs)] for method, epochs in sorted(per_method.items())
    }


def curves_png(column: Column, runs: list[RunRecord]) -> str:
    """Test metrics and effective task weights per epoch, one line per method, as base64 PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    task: Task = column.task
    metrics = list(task.curve_metrics or (task.primary_metric,))
    panels = [(m, lambda log, m=m: log.test_metrics.get(m)) for m in metrics]
    panels += [(f"weight of {name} loss", lambda log, n=name: log.task_weights.get(n)) for name in task.loss_names]
    figure, axes = plt.subplots(1, len(panels), figsize=(3.1 * len(panels), 2.7), squeeze=False)
    for axis, (title, read) in zip(axes[0], panels):
        for method, values in _mean_curves(runs, read).items():
            axis.plot(range(1, len(values) + 1), values, marker="o", markersize=3, label=method)
        axis.set_title(title, fontsize=9)
        axis.set_xlabel("epoch", fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if handles:
        figure.legend(handles, labels, loc="lower center", ncol=min(len(labels), 6), fontsize=8, frameon=False)
    figure.tight_layout(rect=(0, 0.1, 1, 1))
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return base64.b64encode(buffer.getvalue()).decode()


def _inline(svg: str) -> str:
    """An SVG inside HTML needs no namespace declaration: the page names no address at all."""
    return svg.replace(' xmlns="http://www.w3.org/2000/svg"', "", 1)


def _inline_code(text: str) -> markupsafe.Markup:
    """Markdown's `code` spans as <code>, everything else escaped."""
    parts = str(markupsafe.escape(text)).split("`")
    return markupsafe.Markup("".join(p if i % 2 == 0 else f"<code>{p}</code>" for i, p in enumerate(parts)))


def render_html(board: Board, tasks: dict[str, Task], rendered: str) -> str:
    sections = []
    for column in board.columns:
        runs = [r for r in board.runs if (r.job.task, r.job.arch) == column.key and r.epochs]
        sections.append(
            {
                "name": column.name,
                "detail": detail_table(board, column).to_html(index=False, border=0, classes="details"),
                "image": curves_png(column, runs) if runs else None,
                "lines": column_lines(board, column),
                "figures": [markupsafe.Markup(_inline(tradeoff_svg(plot))) for plot in tradeoff_plots(board, column)],
            }
        )
    jobs = [
        {
            "method": r.method.name,
            "type": r.method.entry_type,
            "job": r.job.label,
            "status": r.status,
            "device": r.environment.device_name,
            "sandbox": r.environment.sandbox,
            "commit": r.environment.git_commit,
            "torch": r.environment.torch,
            "wall": f"{r.wall_seconds:.1f}",
            "device_hours": f"{(r.device_hours or r.wall_seconds / 3600):.4f}",
        }
        for r in sorted(board.runs, key=lambda r: (r.method.name, r.job.label))
    ]
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True)
    environment.filters["code"] = _inline_code
    table = main_table(board)
    return environment.get_template("leaderboard.html.j2").render(
        preset=board.preset,
        banner=protocol_banner(board),
        table=None if table.empty else table.to_html(index=False, border=0, classes="leaderboard"),
        notes=notes(board, tasks),
        verdicts=verdict_lines(board),
        sections=sections,
        references=[
            {"title": title, "caveat": caveat, "table": table.to_html(index=False, border=0, classes="reference")}
            for title, caveat, table in reference_tables(board)
        ],
        provenance=provenance(board.runs).lines(),
        jobs=jobs,
        rendered=rendered,
    )
