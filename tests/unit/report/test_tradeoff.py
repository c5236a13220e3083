"""The inline-SVG trade-off figure: structure, coordinates, frontier order, highlighting,
escaping, degenerate inputs and nice ticks, read back through an XML parser."""

import math
import xml.etree.ElementTree as ET

import pytest

from harness.report.tradeoff import (
    ROLE_COLOURS,
    Axis,
    Interval,
    MethodPoints,
    TradeoffPlot,
    nice_ticks,
    tradeoff_svg,
)

NS = {"s": "http://www.w3.org/2000/svg"}
SVG = "{http://www.w3.org/2000/svg}"


def _method(label: str, role: str, seeds: list[tuple[float, float]], interval: bool = True) -> MethodPoints:
    xs, ys = [s[0] for s in seeds], [s[1] for s in seeds]

    def axis(values: list[float]) -> Interval:
        mean = sum(values) / len(values)
        return Interval(mean, mean - 0.5, mean + 0.5) if interval and len(values) > 1 else Interval(mean, None, None)

    return MethodPoints(label, role, tuple(seeds), axis(xs), axis(ys))  # type: ignore[arg-type]


def _plot(methods: tuple[MethodPoints, ...] = (), frontier=(), single_task=(None, None)) -> TradeoffPlot:
    return TradeoffPlot(
        "cifar100-mtl on resnet20: fine vs coarse",
        Axis("fine acc", True),
        Axis("coarse loss", False),
        methods,
        tuple(frontier),
        single_task,
    )


def _parse(plot: TradeoffPlot) -> ET.Element:
    root = ET.fromstring(tradeoff_svg(plot))
    assert root.tag == SVG + "svg" and root.get("role") == "img" and root.get("aria-label") == plot.title
    assert root.find("s:title", NS) is not None
    return root


def _groups(root: ET.Element) -> dict[str, ET.Element]:
    return {g.get("data-method"): g for g in root.iter(SVG + "g") if g.get("data-method") is not None}


def _area(root: ET.Element) -> tuple[float, float, float, float]:
    rect = root.find(".//s:rect[@class='plot-area']", NS)
    assert rect is not None
    x, y = float(rect.get("x")), float(rect.get("y"))
    return x, y, x + float(rect.get("width")), y + float(rect.get("height"))


def _classes(element: ET.Element) -> set[str]:
    return set((element.get("class") or "").split())


def _means(root: ET.Element) -> dict[str, tuple[float, float]]:
    out = {}
    for label, group in _groups(root).items():
        (mean,) = [c for c in group.iter(SVG + "circle") if "mean" in _classes(c)]
        out[label] = (float(mean.get("cx")), float(mean.get("cy")))
    return out


THREE = [(60.0, 1.0), (61.0, 1.2), (62.0, 0.8)]


def test_counts_of_seed_points_means_and_error_bars_per_method() -> None:
    methods = (
        _method("equal", "reference", THREE),
        _method("dwa", "baseline", [(63.0, 0.9), (64.0, 1.1), (63.5, 1.0), (63.2, 1.05), (63.8, 0.95)]),
        _method("one-seed", "baseline", [(65.0, 0.7)]),
        _method("mine", "submission", [(66.0, 0.6), (66.5, 0.65)]),
    )
    groups = _groups(_parse(_plot(methods)))
    assert set(groups) == {"equal", "dwa", "one-seed", "mine"}
    expected = {"equal": (3, True), "dwa": (5, True), "one-seed": (1, False), "mine": (2, True)}
    for label, (seeds, has_interval) in expected.items():
        circles = list(groups[label].iter(SVG + "circle"))
        assert sum("seed" in _classes(c) for c in circles) == seeds
        assert sum("mean" in _classes(c) for c in circles) == 1
        bars = [line for line in groups[label].iter(SVG + "line") if "errorbar" in _classes(line)]
        assert len(bars) == (2 if has_interval else 0)
        assert groups[label].find("s:title", NS) is not None


def test_error_bars_only_on_the_axis_that_has_an_interval() -> None:
    method = MethodPoints(
        "half", "baseline", ((1.0, 2.0), (2.0, 3.0)), Interval(1.5, 1.0, 2.0), Interval(2.5, None, None)
    )
    (group,) = _groups(_parse(_plot((method,)))).values()
    bars = [line for line in group.iter(SVG + "line") if "errorbar" in _classes(line)]
    assert [_classes(b) for b in bars] == [{"errorbar", "x"}]


def test_higher_values_map_right_and_up_and_every_point_is_inside_the_plot_area() -> None:
    methods = (
        _method("low", "baseline", [(10.0, 100.0), (11.0, 101.0)]),
        _method("high", "reference", [(20.0, 300.0), (21.0, 301.0)]),
    )
    plot = _plot(methods, frontier=[("w=0.1", 5.0, 350.0), ("w=0.9", 25.0, 50.0)], single_task=(26.0, 360.0))
    root = _parse(plot)
    means = _means(root)
    assert means["high"][0] > means["low"][0]  # higher x: larger pixel x
    assert means["high"][1] < means["low"][1]  # higher y: smaller pixel y
    left, top, right, bottom = _area(root)
    points = [
        (float(c.get("cx")), float(c.get("cy")))
        for c in root.iter(SVG + "circle")
        if c.get("class") in {"seed", "mean", "frontier"}
    ]
    for line in root.iter(SVG + "line"):
        if {"errorbar", "reference"} & _classes(line):
            points += [(float(line.get("x1")), float(line.get("y1"))), (float(line.get("x2")), float(line.get("y2")))]
    assert len(points) > 10
    for x, y in points:
        assert left <= x <= right and top <= y <= bottom, (x, y)
    # the frontier's extremes are the data range's: they sit near, but not on, the plot's edges
    frontier = [
        (float(c.get("cx")), float(c.get("cy"))) for c in root.iter(SVG + "circle") if c.get("class") == "frontier"
    ]
    assert 0 < frontier[0][0] - left < 0.1 * (right - left)
    assert 0 < frontier[1][1] - top < bottom - top and 0 < bottom - frontier[1][1] < 0.1 * (bottom - top)


def test_frontier_polyline_has_one_vertex_per_grid_point_in_grid_order() -> None:
    grid = [("w=0.1", 60.0, 80.0), ("w=0.5", 64.0, 78.0), ("w=0.3", 62.0, 79.5), ("w=0.9", 67.0, 70.0)]
    root = _parse(_plot((_method("equal", "reference", THREE),), frontier=grid))
    (polyline,) = root.iter(SVG + "polyline")
    vertices = [tuple(map(float, pair.split(","))) for pair in polyline.get("points").split()]
    markers = [c for c in root.iter(SVG + "circle") if c.get("class") == "frontier"]
    assert len(vertices) == len(markers) == 4
    assert vertices == [(float(c.get("cx")), float(c.get("cy"))) for c in markers]
    xs = [v[0] for v in vertices]
    assert xs[0] < xs[2] < xs[1] < xs[3]  # the given order, not sorted by x
    texts = [t.text for t in root.iter(SVG + "text")]
    assert all(label in texts for label, _, _ in grid)
    # three task losses: a pair of metrics is a projection of the grid's surface, so no line
    from dataclasses import replace

    unjoined = _parse(replace(_plot((_method("equal", "reference", THREE),), frontier=grid), join_frontier=False))
    assert not list(unjoined.iter(SVG + "polyline"))
    assert len([c for c in unjoined.iter(SVG + "circle") if c.get("class") == "frontier"]) == 4


def test_submission_is_highlighted_and_drawn_on_top() -> None:
    methods = (
        _method("mine", "submission", THREE),
        _method("equal", "reference", THREE),
        _method("dwa", "baseline", THREE),
        _method("w=0.5", "frontier", THREE),
    )
    root = _parse(_plot(methods))
    order = [g.get("data-method") for g in root.iter(SVG + "g") if g.get("data-method")]
    assert order[-1] == "mine"
    groups = _groups(root)
    assert groups["mine"].get("class") == "role-submission"
    assert groups["dwa"].get("class") == "role-baseline"
    means = {label: next(c for c in g.iter(SVG + "circle") if c.get("class") == "mean") for label, g in groups.items()}
    assert means["mine"].get("fill") == ROLE_COLOURS["submission"]
    assert len({m.get("fill") for m in means.values()}) == 4
    assert float(means["mine"].get("r")) > max(float(means[k].get("r")) for k in ("equal", "dwa", "w=0.5"))
    (label,) = [t for t in groups["mine"].iter(SVG + "text")]
    assert label.text == "mine" and label.get("font-weight") == "bold"


def test_hostile_labels_are_escaped_text_never_markup() -> None:
    hostile = "<script>alert(1)</script> & \"q\" 'x'"
    plot = TradeoffPlot(
        f"title {hostile}",
        Axis(f"x {hostile}", True),
        Axis("y", True),
        (_method(hostile, "submission", THREE),),
        ((hostile, 61.0, 1.1), ("w=0.9", 62.0, 0.9)),
        (None, None),
    )
    text = tradeoff_svg(plot)
    assert "<script" not in text
    root = ET.fromstring(text)
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    assert root.get("aria-label") == f"title {hostile}"
    assert set(_groups(root)) == {hostile}
    texts = [t.text for t in root.iter(SVG + "text")]
    assert texts.count(hostile) == 2  # the mean's label and the grid point's
    assert f"x {hostile} (higher is better)" in texts
    titles = [t.text or "" for t in root.iter(SVG + "title")]
    assert sum(hostile in t for t in titles) >= 2


def test_all_equal_values_do_not_divide_by_zero() -> None:
    same = _method("same", "baseline", [(5.0, 5.0)] * 3, interval=False)
    root = _parse(_plot((same,)))
    left, top, right, bottom = _area(root)
    ((cx, cy),) = _means(root).values()
    assert left < cx < right and top < cy < bottom
    assert all(math.isfinite(float(c.get("cx"))) for c in root.iter(SVG + "circle"))
    assert [t.text for t in root.iter(SVG + "text") if t.get("class") == "tick x-tick"]  # still has ticks


def test_single_seed_has_a_mean_and_no_interval() -> None:
    root = _parse(_plot((_method("solo", "submission", [(70.0, 0.5)]),)))
    group = _groups(root)["solo"]
    assert [c.get("class") for c in group.iter(SVG + "circle")] == ["seed", "mean"]
    assert not list(group.iter(SVG + "line"))
    assert "no interval" in (group.find("s:title", NS).text or "")


def test_no_methods_says_so() -> None:
    root = _parse(_plot())
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "no runs to draw" in texts
    assert not list(root.iter(SVG + "circle"))


def test_single_task_x_only_draws_a_vertical_reference_and_no_star() -> None:
    root = _parse(_plot((_method("equal", "reference", THREE),), single_task=(63.0, None)))
    references = [line for line in root.iter(SVG + "line") if "reference" in _classes(line)]
    assert len(references) == 1
    (line,) = references
    assert line.get("x1") == line.get("x2") and line.get("y1") != line.get("y2")
    assert "stroke-dasharray" in line.attrib
    assert not list(root.iter(SVG + "polygon"))
    assert float(line.get("x1")) > max(x for x, _ in _means(root).values())  # 63 lies right of the mean 61


def test_single_task_both_draws_a_star_and_two_references() -> None:
    root = _parse(_plot((_method("equal", "reference", THREE),), single_task=(63.0, 0.5)))
    references = [line for line in root.iter(SVG + "line") if "reference" in _classes(line)]
    assert {tuple(sorted(_classes(r))) for r in references} == {("reference", "x"), ("reference", "y")}
    (star,) = root.iter(SVG + "polygon")
    assert len(star.get("points").split()) == 10
    assert "single-task models" in [t.text for t in root.iter(SVG + "text")]


@pytest.mark.parametrize(
    ("low", "high", "steps"),
    [(61.3, 67.9, (1.0, 2.0)), (0.0, 1.0, (0.2, 0.25)), (0.0312, 0.0457, (0.0025, 0.005)), (-3.0, 250.0, (50.0,))],
)
def test_ticks_are_nice_numbers(low: float, high: float, steps: tuple[float, ...]) -> None:
    ticks = nice_ticks(low, high)
    assert 3 <= len(ticks) <= 7
    assert all(low <= t <= high for t in ticks)
    step = ticks[1] - ticks[0]
    assert any(step == pytest.approx(s) for s in steps)
    for tick in ticks:
        assert tick / step == pytest.approx(round(tick / step), abs=1e-9)
        assert len(f"{tick:.12g}".replace("-", "").replace(".", "").lstrip("0")) <= 4


def test_tick_labels_of_a_figure_are_round_and_compact() -> None:
    root = _parse(_plot((_method("a", "baseline", [(61.3, 0.9), (67.9, 1.0)]),)))
    xs = [float(t.text) for t in root.iter(SVG + "text") if t.get("class") == "tick x-tick"]
    assert xs and all(x == int(x) for x in xs) and all(b - a in (1.0, 2.0) for a, b in zip(xs, xs[1:]))


def test_legend_names_only_the_roles_present() -> None:
    root = _parse(_plot((_method("mine", "submission", THREE), _method("dwa", "baseline", THREE))))
    legend = root.find(".//s:g[@class='legend']", NS)
    assert [t.text for t in legend.iter(SVG + "text")] == ["submission", "baselines"]
