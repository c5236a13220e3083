"""The two-task trade-off figure as inline SVG: every method's seeds, mean and 95% intervals on
(task x, task y), the fixed-weight grid's frontier and the single-task reference.

Plain SVG text (no matplotlib, no JavaScript) so the HTML report stays one self-contained file
and the figure is searchable, scalable and inspectable in any browser. Tooltips are `<title>`
elements. The module depends on the stdlib only: the board code builds a `TradeoffPlot` and
calls `tradeoff_svg`.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

Role = Literal["submission", "baseline", "reference", "frontier", "control"]  # reference: the board's reference row


@dataclass(frozen=True)
class Interval:  # a mean with its 95% interval on one axis (low/high None with one seed)
    mean: float
    low: float | None
    high: float | None


@dataclass(frozen=True)
class MethodPoints:
    label: str  # the method's row name
    role: Role
    seeds: tuple[tuple[float, float], ...]  # one (x, y) per seed (and fold)
    x: Interval
    y: Interval


@dataclass(frozen=True)
class Axis:
    label: str  # e.g. "fine acc (final epoch)"
    higher_is_better: bool


@dataclass(frozen=True)
class TradeoffPlot:
    title: str  # e.g. "cifar100-mtl on resnet20: fine vs coarse"
    x: Axis
    y: Axis
    methods: tuple[MethodPoints, ...]
    # the fixed-weight grid's means (label, x, y), in grid order (by the first task's weight)
    frontier: tuple[tuple[str, float, float], ...]
    # the single-task controls' means: x from the x task's control, y from the y task's
    single_task: tuple[float | None, float | None]
    # join the grid's means as a line: a curve for two task losses; with three, a pair of
    # metrics sees a projection of a surface, which a line in grid order would misdraw
    join_frontier: bool = True


# drawing order: later roles paint over earlier ones, so the submission is always on top
ROLE_ORDER: tuple[Role, ...] = ("control", "frontier", "baseline", "reference", "submission")
ROLE_COLOURS: dict[Role, str] = {
    "submission": "#d62728",
    "baseline": "#7f7f7f",
    "reference": "#1f77b4",
    "frontier": "#2ca02c",
    "control": "#9467bd",
}
_LEGEND_NAMES: dict[Role, str] = {
    "submission": "submission",
    "reference": "reference",  # the reference row's own label where it is drawn
    "baseline": "baselines",
    "frontier": "fixed-weight grid",
    "control": "controls",
}
_FONT = 'font-family="sans-serif"'
Box = tuple[float, float, float, float]  # x0, y0, x1, y1 in pixels
Spot = tuple[float, float, str]  # a label's x, y and text-anchor
Spots = dict[tuple[str, int], Spot]  # keyed by ("method", i), ("frontier", i), ("single", 0)


def fmt(value: float) -> str:
    """At most 4 significant digits: tick labels and tooltips stay short and never read '-0'."""
    text = f"{value:.4g}"
    return "0" if text == "-0" else text


def _esc(text: str) -> str:
    """Method names come from users: escape for both text and attribute positions."""
    return html.escape(text, quote=True)


def nice_ticks(low: float, high: float, target: int = 5) -> list[float]:
    """Multiples of a 1, 2, 2.5 or 5 x 10^k step inside [low, high], as near `target` of them as
    possible, so that tick labels are round numbers a reader can interpolate between."""
    if not high > low:
        return [low]
    base = 10.0 ** math.floor(math.log10((high - low) / target))
    steps = [m * base * 10.0**k for k in (-1, 0, 1) for m in (1.0, 2.0, 2.5, 5.0)]

    def bounds(step: float) -> tuple[int, int]:
        return math.ceil(low / step - 1e-9), math.floor(high / step + 1e-9)

    step = min(steps, key=lambda s: (abs(bounds(s)[1] - bounds(s)[0] + 1 - target), -s))
    first, last = bounds(step)
    return [float(f"{i * step:.12g}") for i in range(first, last + 1)]


def _padded(values: Sequence[float]) -> tuple[float, float]:
    """The data range plus a small margin, widened around a single value so nothing divides by 0."""
    low, high = min(values), max(values)
    pad = (high - low) * 0.06 if high > low else max(abs(low) * 0.05, 0.5)
    return low - pad, high + pad


@dataclass(frozen=True)
class _Frame:
    """The plot area in pixels and the data range it shows."""

    left: float
    top: float
    right: float
    bottom: float
    x_range: tuple[float, float]
    y_range: tuple[float, float]

    def px(self, x: float) -> float:
        low, high = self.x_range
        return self.left + (x - low) / (high - low) * (self.right - self.left)

    def py(self, y: float) -> float:  # SVG y grows downward
        low, high = self.y_range
        return self.bottom - (y - low) / (high - low) * (self.bottom - self.top)


def _finite(*values: float) -> bool:
    return all(math.isfinite(v) for v in values)


def _data_values(plot: TradeoffPlot) -> tuple[list[float], list[float]]:
    """Every x and y the figure draws (seeds, means, interval ends, grid, single-task)."""
    xs: list[float] = []
    ys: list[float] = []
    for method in plot.methods:
        xs += [sx for sx, _ in method.seeds] + [method.x.mean]
        ys += [sy for _, sy in method.seeds] + [method.y.mean]
        xs += [v for v in (method.x.low, method.x.high) if v is not None]
        ys += [v for v in (method.y.low, method.y.high) if v is not None]
    xs += [fx for _, fx, _ in plot.frontier]
    ys += [fy for _, _, fy in plot.frontier]
    x_single, y_single = plot.single_task
    xs += [x_single] if x_single is not None else []
    ys += [y_single] if y_single is not None else []
    return [v for v in xs if math.isfinite(v)], [v for v in ys if math.isfinite(v)]


def _interval_text(interval: Interval) -> str:
    if interval.low is None or interval.high is None:
        return f"{fmt(interval.mean)} (one seed, no interval)"
    return f"{fmt(interval.mean)} [95% {fmt(interval.low)}, {fmt(interval.high)}]"


def _direction(axis: Axis) -> str:
    return f"{axis.label} ({'higher' if axis.higher_is_better else 'lower'} is better)"


class _Labeller:
    """Greedy label placement: each label takes the first offset around its point that stays in
    the plot area and overlaps no marker or earlier label (else the least-overlapping one)."""

    OFFSETS = (
        *((dx, dy, "start") for dx, dy in ((7, -5), (7, 12), (12, -12), (12, 20))),
        *((-dx, dy, "end") for dx, dy in ((7, -5), (7, 12), (12, -12), (12, 20))),
        (0, -10, "middle"),
        (0, 19, "middle"),
    )

    def __init__(self, frame: _Frame, obstacles: Iterable[Box]) -> None:
        self.frame = frame
        self.taken = list(obstacles)

    def _box(self, x: float, y: float, anchor: str, width: float, size: float) -> Box:
        x0 = x if anchor == "start" else x - width if anchor == "end" else x - width / 2
        return (x0, y - 0.8 * size, x0 + width, y + 0.25 * size)

    def place(self, x: float, y: float, text: str, size: float) -> Spot:
        width = 0.62 * size * len(text)  # DejaVu Sans is about this wide
        f = self.frame
        options = []
        for dx, dy, anchor in self.OFFSETS:
            box = self._box(x + dx, y + dy, anchor, width, size)
            outside = box[0] < f.left or box[2] > f.right or box[1] < f.top or box[3] > f.bottom
            hits = sum(b[0] < box[2] and box[0] < b[2] and b[1] < box[3] and box[1] < b[3] for b in self.taken)
            options.append((hits + 100 * outside, box, (x + dx, y + dy, anchor)))
        _, box, spot = min(options, key=lambda o: o[0])  # min keeps the first of equal scores
        self.taken.append(box)
        return spot


def _bar_boxes(method: MethodPoints, f: _Frame) -> list[Box]:
    """The error bars' pixel boxes, so that labels avoid sitting on them."""
    if not _finite(method.x.mean, method.y.mean):
        return []
    cx, cy = f.px(method.x.mean), f.py(method.y.mean)
    boxes = []
    if method.x.low is not None and method.x.high is not None:
        boxes.append((f.px(method.x.low), cy - 1.5, f.px(method.x.high), cy + 1.5))
    if method.y.low is not None and method.y.high is not None:
        boxes.append((cx - 1.5, f.py(method.y.high), cx + 1.5, f.py(method.y.low)))
    return boxes


def _place_labels(plot: TradeoffPlot, frame: _Frame) -> Spots:
    """Label positions keyed by ("method", i) / ("frontier", i) / ("single", 0), chosen in
    priority order (submission first) so that the labels that matter most get the clear spots."""
    points: list[tuple[tuple[str, int], float, float, str, float]] = []
    for i, m in sorted(enumerate(plot.methods), key=lambda im: -ROLE_ORDER.index(im[1].role)):
        if _finite(m.x.mean, m.y.mean):
            points.append((("method", i), m.x.mean, m.y.mean, m.label, 11 if m.role == "submission" else 9))
    for i, (label, fx, fy) in enumerate(plot.frontier):
        if _finite(fx, fy):
            points.append((("frontier", i), fx, fy, label, 8))
    x_single, y_single = plot.single_task
    if x_single is not None and y_single is not None and _finite(x_single, y_single):
        points.append((("single", 0), x_single, y_single, "single-task models", 9))
    pixels = [(key, frame.px(x), frame.py(y), text, size) for key, x, y, text, size in points]
    bars = [box for m in plot.methods for box in _bar_boxes(m, frame)]
    labeller = _Labeller(frame, [(px - 6, py - 6, px + 6, py + 6) for _, px, py, _, _ in pixels] + bars)
    return {key: labeller.place(px, py, text, size) for key, px, py, text, size in pixels}


def _text(spot: Spot, text: str, size: float, fill: str, extra: str = "") -> str:
    x, y, anchor = spot
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}"{extra}>{_esc(text)}</text>'


def _axes(plot: TradeoffPlot, f: _Frame) -> list[str]:
    """Grid lines, axis lines, nice ticks with labels, and axis labels naming the better direction."""
    out = [f'<g class="axes" {_FONT} font-size="10" fill="#333">']
    for tick in nice_ticks(*f.x_range):
        x = f.px(tick)
        out.append(f'<line class="grid" x1="{x:.1f}" y1="{f.top}" x2="{x:.1f}" y2="{f.bottom}" stroke="#eee"/>')
        out.append(f'<line x1="{x:.1f}" y1="{f.bottom}" x2="{x:.1f}" y2="{f.bottom + 4}" stroke="#444"/>')
        out.append(f'<text class="tick x-tick" x="{x:.1f}" y="{f.bottom + 15}" text-anchor="middle">{fmt(tick)}</text>')
    for tick in nice_ticks(*f.y_range):
        y = f.py(tick)
        out.append(f'<line class="grid" x1="{f.left}" y1="{y:.1f}" x2="{f.right}" y2="{y:.1f}" stroke="#eee"/>')
        out.append(f'<line x1="{f.left - 4}" y1="{y:.1f}" x2="{f.left}" y2="{y:.1f}" stroke="#444"/>')
        out.append(f'<text class="tick y-tick" x="{f.left - 6}" y="{y + 3.5:.1f}" text-anchor="end">{fmt(tick)}</text>')
    out.append(
        f'<rect class="plot-area" x="{f.left}" y="{f.top}" width="{f.right - f.left}" height="{f.bottom - f.top}" fill="none" stroke="#444"/>'
    )
    mid_x, mid_y = (f.left + f.right) / 2, (f.top + f.bottom) / 2
    out.append(
        f'<text class="axis-label" x="{mid_x:.1f}" y="{f.bottom + 32}" text-anchor="middle" font-size="11">{_esc(_direction(plot.x))}</text>'
    )
    out.append(
        f'<text class="axis-label" x="14" y="{mid_y:.1f}" text-anchor="middle" font-size="11" '
        f'transform="rotate(-90 14 {mid_y:.1f})">{_esc(_direction(plot.y))}</text>'
    )
    return [*out, "</g>"]


def _single_task(plot: TradeoffPlot, f: _Frame, spots: Spots) -> list[str]:
    """Dashed reference lines at each single-task mean that exists, and a star where both do."""
    x_single, y_single = (v if v is not None and math.isfinite(v) else None for v in plot.single_task)
    if x_single is None and y_single is None:
        return []
    out = [f'<g class="single-task" {_FONT}>']
    dash = 'stroke="#555" stroke-width="1" stroke-dasharray="5 3"'
    if x_single is not None:
        x = f.px(x_single)
        out.append(f'<line class="reference x" x1="{x:.1f}" y1="{f.top}" x2="{x:.1f}" y2="{f.bottom}" {dash}/>')
        if y_single is None:  # name the line on its side facing the plot's middle, so it is never clipped
            right_half = x > (f.left + f.right) / 2
            out.append(
                _text(
                    (x - 3 if right_half else x + 3, f.top + 10, "end" if right_half else "start"),
                    "single-task",
                    8,
                    "#555",
                )
            )
    if y_single is not None:
        y = f.py(y_single)
        out.append(f'<line class="reference y" x1="{f.left}" y1="{y:.1f}" x2="{f.right}" y2="{y:.1f}" {dash}/>')
        if x_single is None:
            out.append(_text((f.right - 3, y - 3, "end"), "single-task", 8, "#555"))
    if x_single is not None and y_single is not None:
        cx, cy = f.px(x_single), f.py(y_single)
        corners = [
            (cx + r * math.sin(k * math.pi / 5), cy - r * math.cos(k * math.pi / 5))
            for k, r in zip(range(10), [8, 3.5] * 5)
        ]
        points = " ".join(f"{px:.1f},{py:.1f}" for px, py in corners)
        tip = f"single-task models: {plot.x.label} {fmt(x_single)}, {plot.y.label} {fmt(y_single)}"
        out.append(
            f'<polygon class="single-task-point" points="{points}" fill="#222"><title>{_esc(tip)}</title></polygon>'
        )
        out.append(_text(spots[("single", 0)], "single-task models", 9, "#222"))
    return [*out, "</g>"]


def _frontier(plot: TradeoffPlot, f: _Frame, spots: Spots) -> list[str]:
    """The fixed-weight grid's means (joined in grid order where `join_frontier`), each a
    small labelled marker."""
    points = [(i, label, x, y) for i, (label, x, y) in enumerate(plot.frontier) if _finite(x, y)]
    if not points:
        return []
    colour = ROLE_COLOURS["frontier"]
    vertices = " ".join(f"{f.px(x):.1f},{f.py(y):.1f}" for _, _, x, y in points)
    out = [f'<g class="frontier-grid" {_FONT}>']
    if plot.join_frontier:
        out.append(
            f'<polyline class="frontier-line" points="{vertices}" fill="none" stroke="{colour}" stroke-width="1.5" stroke-opacity="0.7"/>'
        )
    for i, label, x, y in points:
        tip = f"{label} (fixed-weight grid): {plot.x.label} {fmt(x)}, {plot.y.label} {fmt(y)}"
        out.append(
            f'<circle class="frontier" cx="{f.px(x):.1f}" cy="{f.py(y):.1f}" r="3" fill="{colour}">'
            f"<title>{_esc(tip)}</title></circle>"
        )
        out.append(_text(spots[("frontier", i)], label, 8, colour))
    return [*out, "</g>"]


def _method(plot: TradeoffPlot, f: _Frame, method: MethodPoints, spot: Spot | None) -> list[str]:
    """One method's group: translucent seeds, error bars where an interval exists, the mean
    marker (larger for the submission) and its label, with the numbers as a tooltip."""
    colour = ROLE_COLOURS[method.role]
    strong = method.role == "submission"
    n = len(method.seeds)
    tip = (
        f"{method.label} ({method.role}, {n} seed{'s' if n != 1 else ''})\n"
        f"{plot.x.label}: {_interval_text(method.x)}\n{plot.y.label}: {_interval_text(method.y)}"
    )
    out = [f'<g class="role-{method.role}" data-method="{_esc(method.label)}" {_FONT}>', f"<title>{_esc(tip)}</title>"]
    for sx, sy in method.seeds:
        if _finite(sx, sy):
            out.append(
                f'<circle class="seed" cx="{f.px(sx):.1f}" cy="{f.py(sy):.1f}" r="2.5" fill="{colour}" fill-opacity="0.35"/>'
            )
    if not _finite(method.x.mean, method.y.mean):
        return [*out, "</g>"]
    cx, cy = f.px(method.x.mean), f.py(method.y.mean)
    bar = f'stroke="{colour}" stroke-width="{2 if strong else 1.3}"'
    if method.x.low is not None and method.x.high is not None:
        out.append(
            f'<line class="errorbar x" x1="{f.px(method.x.low):.1f}" y1="{cy:.1f}" x2="{f.px(method.x.high):.1f}" y2="{cy:.1f}" {bar}/>'
        )
    if method.y.low is not None and method.y.high is not None:
        out.append(
            f'<line class="errorbar y" x1="{cx:.1f}" y1="{f.py(method.y.low):.1f}" x2="{cx:.1f}" y2="{f.py(method.y.high):.1f}" {bar}/>'
        )
    out.append(
        f'<circle class="mean" cx="{cx:.1f}" cy="{cy:.1f}" r="{6.5 if strong else 4.5}" fill="{colour}" stroke="#fff" stroke-width="1"/>'
    )
    if spot is not None:
        out.append(_text(spot, method.label, 11 if strong else 9, colour, ' font-weight="bold"' if strong else ""))
    return [*out, "</g>"]


def _legend(plot: TradeoffPlot, left: float, y: float) -> list[str]:
    """One row naming the roles present, in a fixed order."""
    present = {m.role for m in plot.methods} | ({"frontier"} if plot.frontier else set())
    out = [f'<g class="legend" {_FONT} font-size="10" fill="#333">']
    x = left
    for role in ("submission", "reference", "baseline", "frontier", "control"):
        if role in present:
            name = _LEGEND_NAMES[role]
            if role == "reference":
                name = html.escape(next(m.label for m in plot.methods if m.role == role))
            out.append(f'<circle cx="{x + 4:.1f}" cy="{y - 3.5:.1f}" r="4" fill="{ROLE_COLOURS[role]}"/>')
            out.append(f'<text x="{x + 11:.1f}" y="{y:.1f}">{name}</text>')
            x += 11 + 5.8 * len(name) + 12
    return [*out, "</g>"]


def tradeoff_svg(plot: TradeoffPlot, width: int = 560, height: int = 420) -> str:
    """The whole figure as one `<svg>` element to paste into the HTML report; says "no runs to
    draw" when there is nothing to scale the axes to."""
    title = _esc(plot.title)
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="{title}" class="tradeoff">\n<title>{title}</title>\n'
        f'<text x="{width / 2:.1f}" y="20" text-anchor="middle" font-size="13" font-weight="bold" {_FONT} fill="#222">{title}</text>'
    )
    xs, ys = _data_values(plot)
    if not (plot.methods or plot.frontier) or not xs or not ys:
        return f'{head}\n<text x="{width / 2:.1f}" y="{height / 2:.1f}" text-anchor="middle" font-size="12" {_FONT} fill="#666">no runs to draw</text>\n</svg>'
    frame = _Frame(left=64, top=34, right=width - 16, bottom=height - 72, x_range=_padded(xs), y_range=_padded(ys))
    spots = _place_labels(plot, frame)
    parts = [head, *_axes(plot, frame), *_single_task(plot, frame, spots), *_frontier(plot, frame, spots)]
    for i, method in sorted(enumerate(plot.methods), key=lambda im: ROLE_ORDER.index(im[1].role)):
        parts += _method(plot, frame, method, spots.get(("method", i)))
    parts += _legend(plot, frame.left, height - 12)
    return "\n".join([*parts, "</svg>"])
