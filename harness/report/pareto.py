"""Pareto dominance and the hypervolume indicator for multi-task boards (every metric is
maximised: flip the sign of a lower-is-better metric first).

The hypervolume is exact, by slicing along the last coordinate and recursing on the rest:
O(n^d) for n points in d dimensions, ample for the handful of methods on a board.
"""

from __future__ import annotations

from collections.abc import Sequence

Point = tuple[float, ...]


def _check_dimensions(points: Sequence[Sequence[float]], dimension: int) -> None:
    for point in points:
        if len(point) != dimension:
            raise ValueError(f"point {tuple(point)} has {len(point)} coordinates, expected {dimension}")


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """a is at least as good as b everywhere and better somewhere (maximisation)."""
    _check_dimensions([b], len(a))
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(x > y for x, y in zip(a, b, strict=True))


def pareto_front(points: Sequence[Sequence[float]]) -> list[int]:
    """Indices, in input order, of the points no other point dominates (equal points all stay)."""
    if points:
        _check_dimensions(points, len(points[0]))
    return [i for i, p in enumerate(points) if not any(dominates(q, p) for q in points)]


def _sliced_volume(points: list[Point], reference: Point) -> float:
    """Volume of the union of the boxes [reference, p], every p strictly above reference."""
    if not points:
        return 0.0
    if len(reference) == 1:
        return max(p[0] for p in points) - reference[0]
    ordered = sorted(points, key=lambda p: p[-1], reverse=True)
    volume = 0.0
    for i, point in enumerate(ordered):  # the slab between this point's last coordinate and the next's
        floor = ordered[i + 1][-1] if i + 1 < len(ordered) else reference[-1]
        if point[-1] > floor:  # every point down to this one reaches through the whole slab
            volume += (point[-1] - floor) * _sliced_volume([p[:-1] for p in ordered[: i + 1]], reference[:-1])
    return volume


def hypervolume(points: Sequence[Sequence[float]], reference: Sequence[float]) -> float:
    """Lebesgue measure of the region that the points dominate and that dominates the
    reference: one number that rewards both spread along the front and progress towards it.
    A point not strictly above the reference in every coordinate contributes nothing."""
    if not reference:
        raise ValueError("the reference point needs at least one coordinate")
    _check_dimensions(points, len(reference))
    ref = tuple(float(x) for x in reference)
    above = [tuple(float(x) for x in p) for p in points if all(x > r for x, r in zip(p, ref, strict=True))]
    return _sliced_volume(above, ref)
