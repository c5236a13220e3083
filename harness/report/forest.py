"""The forest plot of one column as inline SVG: each row's difference to `equal` (row minus
equal, in the column's metric) with its 95% interval, a line at zero, the better side named,
and beside each row its numbers, the test and its Holm-corrected p. A row with no test
(failed, one run, `equal` itself) is listed with the reason and no point.

Stdlib only, like report/tradeoff.py: html.py builds the `ForestRow`s from the board's tests
(report/verdicts.py) and calls `forest_svg`."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass

WIDTH = 440
LEFT = 14  # the plot spans the width: each row's text sits above its interval
RIGHT = 14
ROW_HEIGHT = 44
TOP = 46
BOTTOM = 54


@dataclass(frozen=True)
class ForestRow:
    label: str  # the row's method name
    submission: bool
    difference: float | None  # None: no test, `note` says why
    low: float | None = None  # the 95% interval (None with one pair or run)
    high: float | None = None
    test: str = ""  # "paired t-test" / "Welch's t-test"
    p_holm: float | None = None
    note: str = ""


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


def _ticks(low: float, high: float) -> list[float]:
    """About five round ticks covering [low, high]."""
    span = high - low
    raw = span / 5
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def _fmt(value: float) -> str:
    return f"{value:+.2f}".replace("-", "−")


def forest_svg(title: str, axis: str, higher_is_better: bool, rows: Sequence[ForestRow]) -> str:
    """The figure: `axis` names the metric (with its unit); better is right of zero where
    higher is better, else left."""
    height = TOP + ROW_HEIGHT * max(len(rows), 1) + BOTTOM
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="forest" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{_esc(title)}" font-family="sans-serif">'
        f'\n<text x="{WIDTH / 2:.1f}" y="18" text-anchor="middle" font-size="13" font-weight="bold" fill="#222">'
        f"{_esc(title)}</text>"
    )
    values = [v for r in rows if r.difference is not None for v in (r.difference, r.low, r.high) if v is not None]
    if not values:
        body = f'<text x="{WIDTH / 2:.1f}" y="{TOP + 14}" text-anchor="middle" font-size="12" fill="#666">no row has a test against equal</text>'
        return f"{head}\n{body}\n</svg>"
    low, high = min([*values, 0.0]), max([*values, 0.0])
    pad = (high - low) * 0.08 or 1.0
    low, high = low - pad, high + pad
    left, right = LEFT, WIDTH - RIGHT

    def x_of(value: float) -> float:
        return left + (value - low) / (high - low) * (right - left)

    bottom = TOP + ROW_HEIGHT * len(rows)
    out = [head]
    for index in range(0, len(rows), 2):
        out.append(f'<rect x="0" y="{TOP + ROW_HEIGHT * index}" width="{WIDTH}" height="{ROW_HEIGHT}" fill="#f5f5f5"/>')
    out.append('<g class="axes" font-size="11" fill="#333" stroke="none">')
    for tick in _ticks(low, high):
        x = x_of(tick)
        out.append(f'<line x1="{x:.1f}" y1="{TOP - 6}" x2="{x:.1f}" y2="{bottom}" stroke="#e3e3e3"/>')
        out.append(
            f'<text x="{x:.1f}" y="{bottom + 15}" text-anchor="middle">{_esc(f"{tick:g}".replace("-", "−"))}</text>'
        )
    zero = x_of(0.0)
    out.append(
        f'<line class="zero" x1="{zero:.2f}" y1="{TOP - 10}" x2="{zero:.2f}" y2="{bottom}" stroke="#333" stroke-width="1.2" stroke-dasharray="4 3"/>'
    )
    better = "better →" if higher_is_better else "← better"
    out.append(
        f'<text class="axis-label" x="{(left + right) / 2:.1f}" y="{bottom + 32}" text-anchor="middle" font-size="11">'
        f"{_esc(axis)}</text>"
    )
    out.append(
        f'<text class="better" x="{right if higher_is_better else left}" y="{TOP - 14}" '
        f'text-anchor="{"end" if higher_is_better else "start"}" font-size="11" fill="#2a7a2a">{better}</text>'
    )
    out.append("</g>")
    for index, row in enumerate(rows):
        top = TOP + ROW_HEIGHT * index
        y = top + 31  # the interval; the text above it
        colour = "#c62828" if row.submission else "#1f4e79"
        weight = ' font-weight="bold"' if row.submission else ""
        name = f"★ {row.label}" if row.submission else row.label
        cls = "forest-row submission" if row.submission else "forest-row"
        out.append(f'<g class="{cls}" data-method="{_esc(row.label)}">')
        if row.difference is None:
            detail = row.note or "no test"
        else:
            interval = f" [{_fmt(row.low)}, {_fmt(row.high)}]" if row.low is not None and row.high is not None else ""
            p = f", p_Holm {row.p_holm:.3f}" if row.p_holm is not None else ""
            detail = f"{_fmt(row.difference)}{interval} {row.test.replace(' t-test', '')}{p}"
        out.append(
            f'<text x="6" y="{top + 15}" font-size="12"><tspan fill="{colour}"{weight}>{_esc(name)}</tspan>'
            f'<tspan fill="#555" font-size="11">  {_esc(detail)}</tspan></text>'
        )
        if row.difference is None:
            out.append("</g>")
            continue
        if row.low is not None and row.high is not None:
            out.append(
                f'<line class="interval" x1="{x_of(row.low):.1f}" y1="{y:.1f}" x2="{x_of(row.high):.1f}" y2="{y:.1f}" '
                f'stroke="{colour}" stroke-width="2"/>'
            )
            for end in (row.low, row.high):
                out.append(
                    f'<line x1="{x_of(end):.1f}" y1="{y - 5:.1f}" x2="{x_of(end):.1f}" y2="{y + 5:.1f}" stroke="{colour}" stroke-width="2"/>'
                )
        out.append(
            f'<circle class="point" cx="{x_of(row.difference):.2f}" cy="{y:.1f}" r="{6 if row.submission else 4.5}" '
            f'fill="{colour}" stroke="#fff" stroke-width="1"><title>{_esc(name + ": " + detail)}</title></circle>'
        )
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out)
