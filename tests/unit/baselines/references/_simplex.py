"""Brute-force minimisation of a convex function over the probability simplex of 2 or 3
weights, for the references (no solver shared with `baselines/`): nested one-dimensional
grid searches, each zooming into the bracket around its best grid point (for a convex
function of one variable the minimiser lies within one grid step of the best grid point,
and the minimum over the inner weight of a jointly convex function is convex in the outer
one), down to a bracket below float64 resolution."""

from __future__ import annotations

from collections.abc import Callable

import torch

POINTS, LEVELS = 41, 13  # each level shrinks the bracket 20-fold: 20^13 > 1e16


def _zoom(values: Callable[[torch.Tensor], torch.Tensor], low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """For a batch of convex one-dimensional problems: `values` maps points (B, N) to values
    (B, N); returns the minimiser of each on [low, high] (B,)."""
    grid = torch.linspace(0.0, 1.0, POINTS, dtype=torch.float64)
    rows = torch.arange(low.shape[0])
    for _ in range(LEVELS):
        points = low[:, None] + (high - low)[:, None] * grid
        best = values(points).argmin(dim=1)
        low = points[rows, (best - 1).clamp_min(0)]
        high = points[rows, (best + 1).clamp_max(POINTS - 1)]
    return (low + high) / 2


def simplex_argmin(objective: Callable[[torch.Tensor], torch.Tensor], tasks: int) -> torch.Tensor:
    """argmin over w >= 0, sum w = 1 of a convex `objective`, which maps weights (..., T) to
    values (...); T = 2 or 3."""
    zero, one = torch.zeros(1, dtype=torch.float64), torch.ones(1, dtype=torch.float64)
    if tasks == 2:

        def pair(x: torch.Tensor) -> torch.Tensor:
            return objective(torch.stack([x, 1 - x], dim=-1))

        x = _zoom(pair, zero, one)
        return torch.cat([x, 1 - x])
    if tasks != 3:
        raise NotImplementedError("the brute-force simplex search handles 2 or 3 tasks")

    def inner(first: torch.Tensor) -> torch.Tensor:
        """(B,) first weights -> the best second weight for each, on [0, 1 - first]."""

        def values(second: torch.Tensor) -> torch.Tensor:
            head = first[:, None].expand_as(second)
            return objective(torch.stack([head, second, 1 - head - second], dim=-1))

        return _zoom(values, torch.zeros_like(first), 1 - first)

    def outer(first: torch.Tensor) -> torch.Tensor:
        flat = first.reshape(-1)
        second = inner(flat)
        return objective(torch.stack([flat, second, 1 - flat - second], dim=-1)).reshape(first.shape)

    x = _zoom(outer, zero, one)
    y = inner(x)
    return torch.cat([x, y, 1 - x - y]).clamp_min(0.0)
