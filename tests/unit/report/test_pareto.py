"""Dominance, the Pareto front and the hypervolume against hand-computed boxes and an
independent inclusion–exclusion sum and grid count."""

import itertools
import math

import numpy as np
import pytest

from harness.report.pareto import dominates, hypervolume, pareto_front


def test_one_point_is_a_box() -> None:
    assert hypervolume([(3.0, 4.0)], (1.0, 1.0)) == pytest.approx(6.0)
    assert hypervolume([(2.5,)], (0.5,)) == pytest.approx(2.0)
    assert hypervolume([(2.0, 3.0, 0.5)], (0.0, 0.0, 0.0)) == pytest.approx(3.0)
    assert hypervolume([], (0.0, 0.0)) == 0.0


def test_two_overlapping_boxes_count_the_overlap_once() -> None:
    assert hypervolume([(2.0, 1.0), (1.0, 2.0)], (0.0, 0.0)) == pytest.approx(3.0)  # 2 + 2 - 1
    assert hypervolume([(1.0,), (3.0,)], (0.0,)) == pytest.approx(3.0)


def test_a_dominated_point_adds_nothing() -> None:
    front = [(2.0, 1.0), (1.0, 2.0)]
    assert hypervolume([*front, (1.0, 1.0), (0.5, 1.5)], (0.0, 0.0)) == pytest.approx(3.0)
    assert hypervolume([*front, (2.0, 1.0)], (0.0, 0.0)) == pytest.approx(3.0)  # a duplicate too


def test_points_not_above_the_reference_contribute_nothing() -> None:
    assert hypervolume([(-1.0, 5.0)], (0.0, 0.0)) == 0.0
    assert hypervolume([(0.0, 5.0), (3.0, 1.0)], (0.0, 0.0)) == pytest.approx(3.0)  # on the boundary
    assert hypervolume([(1.0, 1.0), (2.0, -0.5)], (0.0, 0.0)) == pytest.approx(1.0)


def test_three_dimensions_by_hand() -> None:
    # 1 (the unit cube) + 2 * 0.25 (the second box) - 1 * 0.25 (their overlap [0,1]x[0,.5]x[0,.5])
    assert hypervolume([(1.0, 1.0, 1.0), (2.0, 0.5, 0.5)], (0.0, 0.0, 0.0)) == pytest.approx(1.25)
    # three unit-wide slabs of heights 3, 2, 1 stacked along different axes
    points = [(3.0, 1.0, 1.0), (1.0, 3.0, 1.0), (1.0, 1.0, 3.0)]
    assert hypervolume(points, (0.0, 0.0, 0.0)) == pytest.approx(3 * 3 - 3 * 1 + 1)


def test_dimension_mismatch_is_an_error() -> None:
    with pytest.raises(ValueError):
        hypervolume([(1.0, 2.0)], (0.0, 0.0, 0.0))
    with pytest.raises(ValueError):
        hypervolume([(1.0, 2.0), (1.0,)], (0.0, 0.0))
    with pytest.raises(ValueError):
        hypervolume([], ())
    with pytest.raises(ValueError):
        dominates((1.0, 2.0), (1.0,))


def _inclusion_exclusion(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume of the union of the boxes [reference, p] by inclusion–exclusion over subsets."""
    total = 0.0
    for size in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), size):
            corner = points[list(subset)].min(axis=0)
            total += (-1) ** (size + 1) * float(np.prod(np.clip(corner - reference, 0.0, None)))
    return total


@pytest.mark.parametrize("dimension", [2, 3, 4])
def test_random_points_match_inclusion_exclusion(dimension: int) -> None:
    rng = np.random.default_rng(dimension)
    points = rng.uniform(-0.2, 1.0, size=(9, dimension))
    reference = np.zeros(dimension)
    assert hypervolume(points.tolist(), reference.tolist()) == pytest.approx(
        _inclusion_exclusion(points, reference), abs=1e-12
    )


def test_random_3d_points_match_a_grid_count() -> None:
    points = np.random.default_rng(7).uniform(0.0, 1.0, size=(8, 3))
    cells = 200
    centres = (np.arange(cells) + 0.5) / cells
    covered = np.zeros((cells, cells, cells), dtype=bool)
    for x, y, z in points:
        covered |= (centres <= x)[:, None, None] & (centres <= y)[None, :, None] & (centres <= z)[None, None, :]
    assert hypervolume(points.tolist(), [0.0, 0.0, 0.0]) == pytest.approx(covered.mean(), abs=1e-2)


def test_dominance_and_the_front() -> None:
    assert dominates((2.0, 1.0), (1.0, 1.0)) and not dominates((1.0, 1.0), (2.0, 1.0))
    assert not dominates((1.0, 1.0), (1.0, 1.0))  # equal points do not dominate each other
    assert not dominates((2.0, 0.0), (0.0, 2.0)) and not dominates((0.0, 2.0), (2.0, 0.0))
    points = [(1.0, 1.0), (2.0, 1.0), (1.0, 2.0), (0.5, 3.0), (2.0, 1.0), (math.inf, -1.0)]
    assert pareto_front(points) == [1, 2, 3, 4, 5]
    assert pareto_front([]) == []
